"""The claim detector is called from several threads in the service (the event loop builds an
/audit report while the completion thread records mirrored audits): it must give each caller
the spans of its own text."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from audits.science.claim_sentences import split_sentences
from audits.science.claims import detect_visual_claims

TEXTS = [
    "<think>This looks like a chest radiograph, not a CT. A large round opacity is seen in the "
    "left lung. It measures over two centimetres. No effusion.</think><answer>yes</answer>",
    "<think>Axial chest CT image. The lungs are clear. No pneumothorax.</think><answer>no</answer>",
    "Findings: there is a small right pleural effusion. Dr. Smith reviewed the 3.5 cm mass. "
    "Answer: yes",
    "The heart size is normal; no focal consolidation is seen in either lung.",
]


@pytest.fixture
def frequent_thread_switches():
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_concurrent_callers_each_get_the_spans_of_their_own_text() -> None:
    expected = {text: (split_sentences(text), detect_visual_claims(text)) for text in TEXTS}
    work = TEXTS * 400

    def run(text: str) -> tuple[str, tuple]:
        return text, (split_sentences(text), detect_visual_claims(text))

    with ThreadPoolExecutor(max_workers=8) as pool:
        wrong = [text for text, got in pool.map(run, work) if got != expected[text]]
    assert not wrong, f"{len(wrong)} of {len(work)} concurrent calls got another text's spans"
