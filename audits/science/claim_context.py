"""ConText-style context for visual-claim targets: historical, hypothetical, experiencer, generic.

This is the ConText algorithm (Harkema H, Dowling JN, Thornblade T, Chapman WW. "ConText: an
algorithm for determining negation, experiencer, and temporal status from clinical reports."
J Biomed Inform 2009;42(5):839-851), the same one medspaCy's ``ConTextComponent`` implements,
written compactly because medspaCy itself does not fit this service (it pins spaCy < 3.8, which
forces numpy < 2 on this venv, and pulls QuickUMLS with ~280 MB of native dependencies).

How it works, as in the paper: a *trigger* term (``"history of"``, ``"if"``, ``"recommend"``,
``"typically"``) carries a category and a direction. Its *scope* runs from the trigger forward,
backward or both ways, to the end of the sentence or the nearest *termination* term (``"but"``,
``"however"``, ``", which"``, a semicolon). A *pseudo-trigger* is a phrase that contains a trigger
but is not one (``"no history"``... here ``"if any"``, ``"whether or not"`` are not hypothetical);
triggers inside it are ignored. A *target* (a finding, anatomy, appearance term found by the
claim lexicon) is modified by every trigger whose scope covers it.

Negation is deliberately not a category here: a negated finding ("No pneumothorax.") is still a
statement about the image, so it is a visual claim (DESIGN.md section 3). The categories are:

- ``HISTORICAL``: clinical history / indication ("history of", "indication:", "presenting with").
- ``HYPOTHETICAL``: conditionals, plans and recommendations ("if", "would", "recommend",
  "consider", "follow-up", "to evaluate").
- ``EXPERIENCER``: someone other than this image is the subject (the user's own account, "I have
  been experiencing", family members).
- ``GENERIC``: textbook knowledge about a disease or modality, not about this image
  ("typically", "is defined as", "most cases of", "are characteristic of", "is used to", "can be
  identified by", "patients with ...", what a test or its staff does: "uses", "provides",
  "a health care provider may order ...", "can be seen with MRI", "types of", "is measured by
  ..."), and differential lists ("the differential includes");
  an extension of ConText's idea to the generic/specific distinction, with the same
  trigger/scope machinery.

Scopes that cover only their own clause: a history trigger looks forward only ("Nodular opacity
consistent with history of granulomatous disease": the opacity is seen, the disease is history),
and a recommendation or a generic adverb does not reach back past a comma, colon or dash ("Small
right effusion, recommend follow-up"; "Calcified granuloma, typically benign"). A relative
"which" ends every backward scope, but the forward scope of a conditional or generic trigger goes
on through it. A repeat or follow-up study that is described ("A repeat CT shows ...",
"Follow-up X-ray of the left hip ...") is not a plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Direction = Literal["forward", "backward", "bidirectional"]

HISTORICAL = "HISTORICAL"
HYPOTHETICAL = "HYPOTHETICAL"
EXPERIENCER = "EXPERIENCER"
GENERIC = "GENERIC"


@dataclass(frozen=True)
class ContextRule:
    """A trigger: regex ``pattern`` (case-insensitive, word-bounded) of ``category``."""

    category: str
    pattern: str
    direction: Direction = "bidirectional"
    clause: bool = False
    """When set, the backward scope also stops at a clause boundary (comma, colon, dash)."""


@dataclass(frozen=True)
class Modifier:
    category: str
    trigger: str
    start: int
    end: int
    scope_start: int
    scope_end: int

    def covers(self, start: int, end: int) -> bool:
        return self.scope_start <= start and end <= self.scope_end


def _rules(
    category: str, direction: Direction, patterns: str, clause: bool = False
) -> list[ContextRule]:
    return [
        ContextRule(category, p.strip(), direction, clause)
        for p in patterns.strip().split("\n")
        if p.strip() and not p.strip().startswith("#")
    ]


# One pattern per line; plain regex, matched with word boundaries at both ends.
DEFAULT_RULES: tuple[ContextRule, ...] = tuple(
    _rules(
        HISTORICAL,
        "forward",
        r"""
        (?:clinical\s+|medical\s+|past\s+|prior\s+|known\s+)?history
        hx\s+of
        indications?\s*:
        (?:reason\s+for\s+(?:the\s+)?(?:exam|study|examination|referral)|clinical\s+(?:information|indication|details|note|notes))\s*:?
        the\s+(?:clinical\s+)?(?:note|notes|referral|request|question|vignette|case|stem)\s+(?:says|states|mentions|describes|reports|notes|indicates)
        (?:is|was)\s+(?:involved|admitted|referred|brought)
        present(?:s|ed|ing)\s+with
        (?:complain(?:s|ed|ing)?|complaint)\s+of
        (?:reports|reported|describes|denies|denied)
        (?:underwent|had\s+undergone|was\s+treated|were\s+treated|treated\s+in)
        (?:is|was)\s+an?\s+\d+[\s-]*(?:year|yr|month)s?[\s-]*old
        status\s+post\s+(?:a\s+)?(?:motor|fall|mvc|trauma|assault)
        (?:laboratory|lab|blood)\s+(?:tests?|results?|values|findings|work-?up)
        """,
    )
    + _rules(
        HISTORICAL,
        "bidirectional",
        r"""
        (?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|several|many|a\s+few)\s+(?:days?|weeks?|months?|years?)\s+ago
        """,
        clause=True,
    )
    + _rules(
        HYPOTHETICAL,
        "forward",
        r"""
        if
        unless
        were\s+(?:this|it|there|the|a|an)
        had\s+(?:this|it|there|the)\s+been
        in\s+case
        assuming
        suppos(?:e|ing)
        should\s+(?:the|there|this|it|a|an)
        to\s+(?:evaluate|assess|rule\s+out|exclude|confirm|characteri[sz]e|determine|check|look|identify|differentiate|distinguish|answer|see|find|examine|diagnose|detect)
        rule\s+out
        ruling\s+out
        whether
        r/o
        (?:evaluate|assess|look|search)\s+for
        """,
    )
    + _rules(
        HYPOTHETICAL,
        "bidirectional",
        r"""
        would
        (?:recommend|recommended|recommends|recommendation|suggest\s+(?:comparison|correlation|follow|further|repeat)|consider|considered|advised|advise|warranted)
        follow[\s-]*up
        further\s+(?:evaluation|imaging|workup|work-up|assessment|investigation|characteri[sz]ation)
        (?:clinical|radiologic|radiographic)\s+correlation
        correlation\s+with
        (?:could|may|might|can|will|should)\s+(?:also\s+)?be\s+(?:obtained|performed|done|ordered|considered|warranted|helpful|useful|removed|taken|repeated|needed|given|injected|inserted|placed|sent)
        risks?\s+(?:of|for|include|includes)
        (?:is|are)\s+(?:needed|necessary|required|recommended|warranted)
        (?:should|must)\s+(?:be\s+)?(?:performed|obtained|done|ordered|avoid|undergo|seek|receive|be\s+followed)
        consult(?:ation|ing)?
        (?:healthcare|health\s+care|medical)\s+professional
        repeat\s+(?:imaging|study|radiograph|film|ct|mri|exam)
        """,
        clause=True,
    )
    + _rules(
        EXPERIENCER,
        "bidirectional",
        r"""
        i\s+(?:have|had|am|was|'ve|'m|feel|felt|got)(?!\s+(?:noted|seen|found|identified|observed|looked|reviewed|examined))
        i'm\s+(?:using|having|experiencing|suffering)
        i\s+have\s+been
        my\s+(?:chest|doctor|physician|mother|father|x-?ray|scan|ct|mri|symptoms|pain|report|image|images)
        (?:mother|father|sister|brother|sibling|aunt|uncle|grandmother|grandfather|family\s+history)
        """,
    )
    + _rules(
        GENERIC,
        "bidirectional",
        r"""
        typically
        usually
        commonly
        classically
        characteristically
        frequently
        generally
        often
        """,
        clause=True,
    )
    + _rules(
        GENERIC,
        "forward",
        r"""
        differential(?:\s+diagnos[ie]s)?(?:\s+considerations?)?\s*(?::|includes?|include|would\s+include|is\s+broad)
        (?:possible|potential|likely)\s+(?:causes|etiologies|diagnoses)\s+(?:include|are)
        """,
    )
    + _rules(
        GENERIC,
        "bidirectional",
        r"""
        in\s+general
        in\s+most\s+(?:cases|patients)
        most\s+cases\s+of
        (?:is|are)\s+most\s+(?:often|commonly|frequently)
        tends?\s+to
        (?:is|are)\s+(?:usually\s+|often\s+|typically\s+)?defined\s+as
        refers?\s+to
        (?:is|are)\s+characteri[sz]ed\s+by
        (?:is|are)\s+known\s+as
        (?:is|are)\s+(?:best|most\s+reliably|easily)\s+(?:detected|seen|visuali[sz]ed|assessed|demonstrated|evaluated|imaged)
        (?:is|are)\s+(?:a|an)\s+(?:clinical|medical|surgical|radiological|radiologic|common|rare|serious|life-threatening)\s+(?:emergency|condition|disease|finding|sign|cause|complication|entity|disorder)
        (?:is|are)\s+(?:a|an)\s+(?:type|form|kind|sign|cause|complication|feature)\s+of
        (?:have|has)\s+a\s+(?:broad|wide|narrow|long)\s+differential
        differential\s+(?:diagnosis\s+)?(?:includes|that\s+includes)
        (?:can|could|may)\s+be\s+(?:due|caused|related|attributed|associated)\s+to
        (?:can|could|may)\s+be\s+caused\s+by
        various\s+(?:factors|causes|conditions|reasons)
        (?:is|are)\s+(?:caused|associated)\s+(?:by|with)
        associated\s+with\s+(?:long-standing|chronic|a\s+history|an\s+increased|increased)
        risk\s+factors?
        once\s+(?:roughly\s+|about\s+|approximately\s+)?\d+
        (?:causes|cause|produces|produce|requires|require)\s+(?:bilateral\s+|immediate\s+|an?\s+|the\s+)?
        (?:is|are)\s+(?:more|less)\s+likely
        (?:is|are)\s+(?:(?:more|less|most|very)\s+)?(?:common|rare|uncommon|frequent|prevalent)\s+(?:in|among)
        in\s+(?:adults|children|patients|elderly|people|individuals)
        (?:is|are)\s+(?:used|useful)\s+(?:to|for|in)
        modality\s+of\s+choice
        helps?\s+(?:to\s+)?(?:localize|distinguish|differentiate|identify|diagnose|detect)
        (?:we\s+)?(?:would|will)\s+(?:expect|be\s+expected)
        (?:is|are)\s+(?:characteristic|typical|pathognomonic|classic|hallmarks?)\s+(?:of|for)
        (?:is|are)\s+(?:used|performed|ordered|done)\s+(?:to|for)
        (?:can|could|may|might)\s+be\s+(?:identified|recogni[sz]ed|distinguished|differentiated|diagnosed|detected|confirmed|characteri[sz]ed|assessed|evaluated|visuali[sz]ed)\s+(?:by|with|using|on)
        (?:can|could|may|might)\s+(?:cause|produce|lead\s+to|result\s+in|occur|mimic|present\s+as|manifest|develop)
        can\s+(?:show|reveal|detect|demonstrate|depict|visuali[sz]e|identify|help|provide|distinguish)
        (?:provides?|offers?|gives?)\s+(?:a\s+)?(?:detailed|cross-sectional|high-resolution|excellent|good)
        (?:patients|people|individuals|adults|children|infants|women|men|smokers)\s+(?:with|who)
        (?:scanning|imaging)\s+plane\s+determines
        (?:doctors?|physicians?|(?:health\s*care|healthcare|medical)\s+providers?|technicians?|technologists?|radiologists?|surgeons?|clinicians?)(?!\s+(?:notes?|noted|reports?|reported|describes?|described|identified|found))
        (?:affected\s+)?(?:individuals|people|persons|patients|children|adults|women|men)\s+(?:have|has|may|can|often|usually|develop|experience|need|require|should|will)
        (?:some|others|many|most)\s+(?:have|look|may|can|use|develop|show|need|require|will|also)
        (?:uses?|provides?|allows?|relies\s+on|rely\s+on|works?\s+by|bounces?)
        (?:types|forms|kinds|subtypes|classes|categories|varieties)\s+of
        (?:are|is)\s+(?:also\s+)?(?:referred\s+to|called|known)\s+as
        (?:is|are)\s+the\s+most\s+(?:widely\s+|commonly\s+|frequently\s+)?(?:used|common|sensitive|specific|accurate|useful|important)
        (?:is|are)\s+(?:very\s+|highly\s+|more\s+|less\s+)?(?:sensitive|specific|accurate|useful|helpful)\s+(?:for|in|to|at)
        (?:can|could|may|might)\s+(?:also\s+)?be\s+(?:seen|shown|found|detected|noted|observed|visuali[sz]ed|demonstrated|imaged|diagnosed|confirmed)\s+(?:with|using|by|on|during|in)\s+(?:an?\s+|the\s+)?(?:[\w-]+\s+){0,2}(?:imaging|mri|ct|x-?rays?|radiographs?|ultrasound|scans?|tests?|studies|examinations?|exams?)
        (?:is|are|was|were)\s+(?:measured|calculated|defined|determined|evaluated|estimated|drawn)\s+(?:by|as|using)
        by\s+(?:measuring|placing|drawing|calculating|connecting|dividing|tracing)
        (?:is|are)\s+(?:the|an?)\s+(?:angle|distance|ratio|measure|measurement|term|name|index)\s+(?:between|of|for|that|which|used)
        (?:a|any)\s+(?:value|score|ratio|angle|measurement)\s+(?:of\s+)?(?:[<>\u2264\u2265]\s*\d+(?:\.\d+)?|greater|less|more|above|below|over|under)
        (?:is|are)\s+(?:the\s+)?(?:organs?|structures?|parts?)\s+(?:that|which)
        """,
    )
)

TERMINATORS = re.compile(
    r"\b(?:but|however|although|though|whereas|while|yet|nevertheless|now|currently|"
    r"which|meaning|indicating|suggesting|and\s+therefore|so\s+that)\b|[;]",
    re.IGNORECASE,
)
RELATIVE = re.compile(r"\bwhich\b", re.IGNORECASE)
"""A relative clause ends a history or experiencer scope ("opacity, which is new"), but the
forward scope of a conditional or a generic statement goes on through it ("If the tests do not
show which gland is overactive ...", "three forms of X, which are distinguished by x-rays ...").
Backward scopes still stop there: a generic relative clause does not make the finding before it
generic ("a chondral abnormality, which is a type of cartilage damage")."""
THROUGH_RELATIVE = frozenset({HYPOTHETICAL, GENERIC})
CLAUSE_BOUNDARY = re.compile(r"[,:]|\s[-\u2013\u2014]+\s")
"""Where a clause-bounded trigger's backward scope stops."""
PSEUDO = re.compile(
    r"\b(?:if\s+any|if\s+present|whether\s+or\s+not|no\s+history|history\s+and\s+physical|"
    r"if\s+available|as\s+if|even\s+if|would\s+(?:say|conclude|describe|note)|"
    r"i\s+would\s+choose|would\s+be\s+(?:yes|no|[a-e])\b|"
    r"repeat\s+(?:[\w-]+\s+){0,3}?(?:shows?|showed|demonstrates?|demonstrated|reveals?|revealed)|"
    r"follow[\s-]*up\s+(?:[\w-]+\s+){0,2}?(?:x-?rays?|ct|mri|radiographs?|films?|images?|scans?|"
    r"studies|study|examination|exam|ultrasound|mammograms?)\s+(?=of|at|after|obtained|showing|shows?|"
    r"showed|demonstrat|reveal|performed|taken|done)|"
    r"(?:at|on|during)\s+(?:the\s+)?(?:[\w-]+\s+)?follow[\s-]*up\b|"
    r"as\s+an?\s+(?:[\w-]+\s+){0,2}?(?:radiologist|doctor|physician|clinician)\b|"
    r"(?:generally|usually|typically)\s+(?:clear|normal|unremarkable|preserved|intact|stable|"
    r"well[\s-]+(?:aerated|expanded)|within\s+normal\s+limits))",
    re.IGNORECASE,
)


class ConText:
    """Find context modifiers in a sentence and the categories that modify a target span."""

    def __init__(self, rules: tuple[ContextRule, ...] = DEFAULT_RULES) -> None:
        self.rules = rules
        self._compiled = [
            (rule, re.compile(rf"(?<![\w-]){rule.pattern}(?![\w-])", re.IGNORECASE))
            for rule in rules
        ]

    def modifiers(self, sentence: str) -> list[Modifier]:
        pseudo = [(m.start(), m.end()) for m in PSEUDO.finditer(sentence)]
        stops = [(m.start(), m.end()) for m in TERMINATORS.finditer(sentence)]
        relative = {(m.start(), m.end()) for m in RELATIVE.finditer(sentence)}
        open_stops = [stop for stop in stops if stop not in relative]
        clauses = [(m.start(), m.end()) for m in CLAUSE_BOUNDARY.finditer(sentence)]
        found: list[Modifier] = []
        for rule, pattern in self._compiled:
            for m in pattern.finditer(sentence):
                if any(a <= m.start() and m.end() <= b for a, b in pseudo):
                    continue
                scope_start, scope_end = m.start(), m.end()
                rule_stops = open_stops if rule.category in THROUGH_RELATIVE else stops
                if rule.direction in ("forward", "bidirectional"):
                    after = [a for a, _ in rule_stops if a >= m.end()]
                    scope_end = min(after) if after else len(sentence)
                if rule.direction in ("backward", "bidirectional"):
                    bounds = stops + clauses if rule.clause else stops
                    before = [b for _, b in bounds if b <= m.start()]
                    scope_start = max(before) if before else 0
                found.append(
                    Modifier(rule.category, m.group(0), m.start(), m.end(), scope_start, scope_end)
                )
        return found

    @staticmethod
    def categories_for(modifiers: list[Modifier], start: int, end: int) -> set[str]:
        """Categories of the modifiers whose scope covers the target ``[start, end)``."""
        return {m.category for m in modifiers if m.covers(start, end)}


DEFAULT_CONTEXT = ConText()
