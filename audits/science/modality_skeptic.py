"""Modality skeptic (DESIGN.md section 3): the reasoning says the image does not fit the question
(wrong modality or organ, not assessable), yet the answer is a committed one."""

from __future__ import annotations

import re

from audits.contracts.types import UNPARSED
from audits.science.claim_lexicon import ANATOMY
from audits.science.claim_patterns import alternation
from audits.science.claim_sentences import plain_quotes
from audits.science.parsing import normalize_answer, parse_output

_MODALITY_NAME = (
    r"(?:ct|ct\s+scan|mri|mr|x-?ray|radiograph|chest\s+film|ultrasound|sonogram|mammogram|"
    r"angiogram|pet(?:-ct)?|histology\s+slide|pathology\s+slide|slide|micrograph|"
    r"\w+\s+(?:ct|mri|x-?ray|radiograph|image|scan|film))"
)
_ORGANS = alternation(ANATOMY)
_SKEPTIC = re.compile(
    rf"\b(?:this|it|the\s+(?:image|picture|scan|film|study))\s+(?:is\s+not|isn't|does\s+not\s+"
    rf"(?:appear|seem|look)\s+to\s+be|doesn't\s+(?:appear|seem|look)\s+to\s+be)\s+(?:an?\s+)?"
    rf"{_MODALITY_NAME}\b"
    rf"|\bnot\s+an?\s+{_MODALITY_NAME}\b"
    rf"|\b(?:rather|instead)\s+(?:than|of)\s+an?\s+{_MODALITY_NAME}\b"
    r"|\b(?:wrong|different|mismatched|incorrect)\s+(?:imaging\s+)?(?:modality|organ|body\s+part|"
    r"region|anatomy|image)\b"
    r"|\bmodality\s+(?:does\s+not|doesn't)\s+match\b"
    r"|\b(?:can\s*not|cannot|can't|could\s+not|not)\s+(?:be\s+)?(?:reliably\s+|properly\s+)?"
    r"(?:assessed|evaluated|determined|judged|visuali[sz]ed|characteri[sz]ed|answered)\s+"
    r"(?:on|from|in|with|using)\s+(?:this|the|a|an)\s+(?:\w+\s+){0,2}"
    r"(?:image|picture|scan|film|radiograph|x-?ray|ct|mri|view|study|slide|modality)\b"
    r"|\bnot\s+(?:assessable|evaluable|diagnostic)\b|\bnon-?diagnostic\b"
    r"|\b(?:image|picture|scan|film|view|study)\s+(?:is\s+not|isn't)\s+(?:suitable|appropriate|"
    r"adequate|sufficient)\b"
    r"|\b(?:does\s+not|doesn't|do\s+not|don't)\s+(?:match|correspond\s+to|fit)\s+the\s+question\b"
    r"|\b(?:question|image)\s+(?:and\s+(?:the\s+)?(?:image|question)\s+)?(?:do\s+not|don't|"
    r"does\s+not|doesn't)\s+match\b"
    rf"|\b(?:image|picture|scan|film|radiograph|study|view)\s+(?:does\s+not|doesn't)\s+"
    rf"(?:show|depict|include|contain|cover|image)\s+(?:the\s+|any\s+)?(?:{_ORGANS})(?![\w-])"
    rf"|\b(?:the\s+)?(?:{_ORGANS})\s+(?:is|are)\s+not\s+(?:visible|included|shown|depicted|"
    r"imaged|in\s+the\s+field\s+of\s+view)\s+(?:on|in)\s+(?:this|the)\s+(?:image|scan|film|study)",
    re.IGNORECASE,
)
_NONCOMMITTAL = re.compile(
    r"^(?:cannot|can\s+t|can\s+not|unable|not\s+(?:possible|sure|assessable|determinable|"
    r"determined|applicable|evaluable)|unknown|unsure|uncertain|indeterminate|insufficient|"
    r"undetermined|i\s+don\s+t\s+know|i\s+do\s+not\s+know|don\s+t\s+know|n\s+a|unclear|"
    r"impossible|no\s+answer)\b"
)


def is_modality_skeptic(output: str, answer: str) -> bool:
    """The reasoning says the image does not fit the question, yet the answer is committed.

    ``answer`` may be raw or normalized; it is committed unless it is ``UNPARSED`` or a
    non-committal answer ("cannot determine", "unknown", ...). Any committed answer counts
    (yes/no, option letter or open text).
    """
    if not output:
        return False
    normalized = normalize_answer(answer)
    if normalized == UNPARSED or _NONCOMMITTAL.match(normalized) is not None:
        return False
    reasoning = plain_quotes(parse_output(output).reasoning)
    return bool(reasoning) and _SKEPTIC.search(reasoning) is not None
