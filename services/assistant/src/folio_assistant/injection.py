"""Questions that try to instruct the assistant (prompt injection) instead of asking about books.

The assistant takes no instructions from a question. A question that tells it to set its rules
aside, gives it a new role, fakes a turn of the conversation or asks for its prompt is declined
as a whole, with a clear answer and no citations: whatever else it asks, an injected request can
neither steer the model nor borrow the catalog's books to look answered. The patterns describe
each kind of attempt (a verb of setting aside followed by what is set aside, a role change, a
conversation marker, a request for the prompt), not one phrasing; a question merely containing
"ignore" or "rules" ("a heroine who ignores the rules of society") is a question.
"""

import re
import unicodedata

# What is set aside: the assistant's own instructions, or rules that a word places before the question.
_WHAT = (
    r"(?:instructions?|prompts?|directives?|guidelines|guardrails|system (?:message|prompt)s?"
    r"|(?:previous|prior|above|earlier|preceding|original|initial|existing|your|these|those|system)"
    r"(?: \w+){0,2} (?:rules|orders|commands|context|constraints|restrictions|guidance|directions"
    r"|policies|policy|programming|messages?|text|settings)"
    r"|(?:rules|orders|commands|directions|guidance|context)"
    r" (?:above|before this|so far|you (?:were|have been|ve been) (?:given|told)))"
)
_SET_ASIDE = (
    r"(?:ignore|disregard|forget|override|bypass|skip|drop|discard|abandon|cancel|erase|delete|reset"
    r"|set aside|put aside|throw out|never mind|stop following|(?:do not|don ?t|no longer) (?:follow|obey))"
)
_PATTERNS = [
    # "ignore previous instructions", "disregard all the rules above", "forget your guidelines"
    rf"\b{_SET_ASIDE}(?: \w+){{0,4}} {_WHAT}\b",
    rf"\b{_SET_ASIDE} (?:everything |all |anything |whatever |what )?(?:you (?:were|have been|ve been|are|got)"
    r" (?:told|given|taught|asked)|(?:the )?above|before|so far)\b",
    r"\b(?:instructions|rules|guidelines) (?:above|before|so far) (?:are|is) (?:void|cancelled|obsolete)\b",
    # a new role or mode
    r"(?:^|\. )(?:you are|you re) (?:now|no longer)\b",
    r"\bfrom now on,? (?:you|answer|respond|reply|act|only)\b",
    r"\bpretend (?:to be|that you|you are|you re)\b",
    r"\b(?:act|behave|respond|answer|reply) as if you\b",
    r"\b(?:developer|dan|god|jailbreak|unrestricted|unfiltered|debug|admin) mode\b",
    r"\bjailbreak",
    r"\b(?:new|updated|real|actual|override) (?:instructions?|rules|system prompt|role|persona|task) ?:",
    r"\byour (?:new|real|actual|true) (?:instructions?|rules|role|task|persona|purpose)\b",
    # asking for the prompt itself
    r"\b(?:reveal|print|show|repeat|output|display|leak|dump|recite|reproduce|tell me|give me|what (?:is|are))"
    r"(?: \w+){0,3} (?:system prompt|(?:your|the) (?:hidden|secret|original|initial|full|exact|system) "
    r"(?:instructions|prompt)|your (?:instructions|prompt|rules|guidelines|configuration))\b",
]
_OVERRIDE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS))
# A conversation marker typed into the question: a role label at a line start, the prompt's own
# delimiters, or a chat template's turn tokens.
_MARKER = re.compile(
    r"(?:^|\n)\s*(?:system|assistant|developer|user|human|ai)\s*:"
    r"|</?\s*(?:system|instructions?|question|facts|prompt)\s*>"
    r"|<\|?(?:im_start|im_end|start_of_turn|end_of_turn|system|endoftext)\|?>"
    r"|\[/?(?:inst|sys)\]|<<sys>>|#{2,} *(?:system|instructions?)\b",
    re.IGNORECASE,
)


def _words(text: str) -> str:
    """Lowercase words separated by single spaces, each sentence ending in " ." (other punctuation,
    apostrophes and case ignored), so a pattern stays within one sentence."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = re.findall(r"[^\W_]+|[.!?;\n]", folded)
    return " ".join("." if word in ".!?;\n" else word for word in words)


def instructs_the_assistant(question: str) -> bool:
    """True when `question` tries to change the assistant's rules or role, or to read its prompt."""
    return bool(_MARKER.search(unicodedata.normalize("NFKC", question)) or _OVERRIDE.search(_words(question)))
