"""Hand-written patterns for the attack families a classifier trained on short prompts can miss
or cannot localise: instruction override, role-play jailbreaks, system-prompt extraction, tool
abuse and exfiltration, delimiter/role injection, and instructions planted in documents.

Patterns run on the normalised views from `lockgate.guardrails.normalize` (lower-cased and
leet-folded unless ``raw``), so they are written in plain lower-case English. Every repetition
is bounded ({0,n}) and inputs are capped upstream, so a match attempt is O(len * small const);
there is no nested unbounded quantifier anywhere.

Scores are the rule's own confidence: 0.9+ for phrases that have no benign reading, lower for
ones that need context. The policy threshold (0.5 by default) decides what acts."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Separators between words: spaces, punctuation, underscores (attackers write
# "ignore_previous_instructions" or "ignore...previous").
_S = r"[\W_]{1,6}"
# Up to n filler words ("ignore ALL OF THE previous instructions").
def _w(n: int) -> str:
    return r"(?:[a-z0-9']{1,20}" + _S + f"){{0,{n}}}"


_PRIOR = (r"(?:previous|prior|above|earlier|preceding|former|original|initial|old|existing|"
          r"foregoing|past|system|developer|default|given|all)")
_RULES_NOUN = (r"(?:instructions?|prompts?|rules?|directives?|guidelines?|commands?|context|"
               r"constraints?|restrictions?|programming|training|polic(?:y|ies)|"
               r"orders?|guidance|settings?|filters?|safeguards?|configuration|content|text|tasks?)")
# "the old settings for the VPN", "the previous content of the page": the generic nouns, tied
# to a named thing that is not the assistant, are an operator's request, not an override.
_WEAK_NOUN = r"(?:settings?|configuration|content|text|tasks?|context|orders?)"
_NOT_OF_A_THING = (
    r"(?!\s+(?:for|of|in|on)\s+(?!(?:the\s+|this\s+|your\s+|our\s+)?"
    r"(?:ai|assistant|chat|conversation|model|bot|system)\b)\w)"
)
_RULES_OR_OWN_SETTINGS = rf"(?:(?!{_WEAK_NOUN}\b){_RULES_NOUN}\b|{_WEAK_NOUN}\b{_NOT_OF_A_THING})"
_OVERRIDE_VERB = (r"(?:ignore|disregard|forget|skip|override|overwrite|bypass|neglect|omit|"
                  r"abandon|discard|dismiss|drop|erase|delete|clear|reset|throw away|set aside)")
_AI = r"(?:ai|a\.i\.|assistant|chatbot|chat bot|llm|language model|model|gpt|bot|agent|copilot)"
_LIMITS = (r"(?:restrictions?|limits?|limitations?|filters?|guidelines?|rules?|censorship|"
           r"boundaries|morals?|ethics|safeguards?|guardrails?|constraints?|polic(?:y|ies))")
_SECRET_OBJ = (r"(?:data|conversation|chat|history|secrets?|credentials?|passwords?|api[\W_]?keys?|"
               r"tokens?|system prompt|context|documents?|files?|"
               r"user(?:'s)? (?:data|info\w*|details)"
               r"|personal (?:data|info\w*)|emails?|contents?|everything|all of (?:it|this)|"
               r"messages?|cookies?|session)")


@dataclass(frozen=True)
class Rule:
    family: str
    name: str
    pattern: re.Pattern[str]
    score: float
    raw: bool = False  # match the un-folded text (case matters, e.g. "DAN" vs "Dan")
    # Substrings of the folded text without which the rule cannot match: checking them first
    # (a C-speed `in`) skips most regexes on ordinary text.
    triggers: tuple[str, ...] = ()


_VERB_TRIGGERS = ("ignor", "disregard", "forget", "skip", "overrid", "overwrit", "bypass",
                  "neglect", "omit", "abandon", "discard", "dismiss", "drop", "erase", "delete",
                  "clear", "reset", "throw away", "set aside")
_AI_TRIGGERS = ("ai", "a.i.", "assistant", "bot", "llm", "language model", "model", "gpt",
                "agent", "copilot")
_TRIGGERS: dict[str, tuple[str, ...]] = {
    "ignore_previous": _VERB_TRIGGERS,
    "ignore_everything_above": _VERB_TRIGGERS,
    "disregard_the_above": _VERB_TRIGGERS,
    "new_instructions": ("instruction", "directive", "order", "task", "system prompt", "rules"),
    "from_now_on": ("from now on", "starting now", "henceforth", "rest of"),
    "do_not_follow": ("follow", "obey", "adher", "comply", "listen"),
    "instead_say": ("instead", "rather"),
    "pwned": ("pwned",),
    "dan": ("dan", "do anything now", "dude", "stan", "machiavelli"),
    "mode": ("mode",),
    "you_are_now": ("now",),
    "no_restrictions": ("restriction", "limit", "filter", "guideline", "rule", "censor",
                        "boundar", "moral", "ethic", "safeguard", "guardrail", "constraint",
                        "polic"),
    "disable_safety": ("safety", "content", "ethical", "moral", "openai", "anthropic",
                       "security"),
    "stay_in_character": ("character",),
    "never_refuse": ("refus", "decline", "say no", "reject", "warning", "disclaimer"),
    "repeat_above": ("above", "before this", "preceding", "prior to", "at the ", "you were given",
                     "you received", "so far", "verbatim"),
    "what_is_your_prompt": ("what",),
    "print_your_instructions": ("prompt", "instruction", "configuration", "guidelines",
                                "secret", "internal", "rules"),
    "begins_with": ("with",),
    "password": ("secret", "password", "passcode", "hidden word", "flag"),
    "markdown_image": ("![",),
    "html_image": ("src", "href", "data", "poster", "background"),
    "answer_with_url": ("http", "www.", "![", "<img"),
    "before_answering": ("before", "when", "while", "after"),
    "send_to_url": (" to", " at", " in", " via"),
    "covert_tool": ("silently", "secretly", "quietly", "covertly", "without", "do not"),
    "dont_tell_user": ("not", "don", "never"),
    "shell": ("rm ", "curl", "wget"),
    "chat_tokens": ("<|", "_of_turn>", "<eos", "<bos"),
    "inst_tags": ("inst]", "sys", "<instruction", "</instruction", "<system", "</system"),
    "role_header": ("system", "instruction", "developer", "admin"),
    "end_of_input": ("of", "begin", "start"),
    "ai_reading_this": _AI_TRIGGERS,
    "if_you_are_an_ai": _AI_TRIGGERS,
    "note_to_ai": _AI_TRIGGERS,
    "when_asked_say": ("when", "if"),
}


def _r(family: str, name: str, pattern: str, score: float, raw: bool = False,
       flags: int = 0) -> Rule:
    return Rule(family, name, re.compile(pattern, flags), score, raw, _TRIGGERS.get(name, ()))


RULES: list[Rule] = [
    # --- instruction override -------------------------------------------------------------
    _r("override", "ignore_previous",
       rf"\b{_OVERRIDE_VERB}{_S}{_w(4)}{_PRIOR}{_S}{_w(2)}{_RULES_OR_OWN_SETTINGS}", 0.95),
    _r("override", "ignore_everything_above",
       rf"\b{_OVERRIDE_VERB}{_S}(?:everything|anything|all|what(?:ever)?{_S}(?:was|you were|i)"
       rf"{_S}(?:said|told|given|wrote))(?:{_S}{_w(2)}(?:above|before|earlier|so far|previously))",
       0.95),
    _r("override", "disregard_the_above",
       rf"\b{_OVERRIDE_VERB}{_S}(?:the|that|this|everything|all){_S}(?:above|preceding)\b"
       rf"(?!{_S}(?:invoice|order|paragraph|section|figure|table|chart|example|step|link|email|"
       rf"message|line|item|price|amount|error|warning|typo))", 0.9),
    _r("override", "new_instructions",
       rf"\b(?:new|updated|real|actual|revised|true|secret|hidden|override|admin|priority)"
       rf"{_S}(?:instructions?|directives?|orders|task|system prompt|rules)\s{{0,3}}"
       rf"(?::|-|are\b|is\b)",
       0.8),
    _r("override", "from_now_on",
       rf"\b(?:from now on|starting now|henceforth|for the rest of (?:this|the) conversation)"
       rf"{_S}{_w(3)}(?:you|your){_S}{_w(3)}(?:will|must|shall|are|should|have to|only|answer|"
       rf"respond|reply|act|ignore|never|always)\b", 0.75),
    _r("override", "do_not_follow",
       rf"\b(?:do not|don't|dont|stop|no longer|never){_S}(?:follow(?:ing)?|obey(?:ing)?|"
       rf"adher(?:e|ing) to|comply(?:ing)? with|listen(?:ing)? to){_S}{_w(2)}(?:your|the|any|"
       rf"these|those){_S}{_w(2)}{_RULES_NOUN}\b", 0.9),
    _r("override", "instead_say",
       rf"\b(?:instead|rather){_S}(?:just{_S})?(?:say|print|output|write|respond with|reply with)"
       rf"{_S}{_w(3)}(?:pwned|hacked|i have been|haha)", 0.95),
    _r("override", "pwned",
       r"\bi\W{0,3}ha(?:ve|s)\W{0,3}been\W{0,3}pwned\b", 0.9),
    # --- role-play jailbreaks -----------------------------------------------------------
    _r("jailbreak", "dan", r"\bDAN\b(?!\s+(?:Brown|Smith|Jones|Miller|Wilson|Taylor))"
       r"|\b(?i:do anything now)\b|\bDUDE\b|\bSTAN\b|\bAIM\b(?=.{0,200}(?i:machiavelli))",
       0.9, raw=True,
       flags=re.S),
    _r("jailbreak", "mode",
       rf"\b(?:developer|dev|god|admin|sudo|jailbreak|jailbroken|unrestricted|unfiltered|"
       rf"uncensored|evil|chaos|opposite|dan){_S}mode{_S}{_w(1)}"
       rf"(?:enabled|activated|engaged|unlocked|output|response)\b"
       rf"|\b(?:enable|activate|enter|switch to|turn on|unlock|simulate){_S}{_w(2)}"
       rf"(?:god|jailbreak|unrestricted|unfiltered|uncensored|evil|dan|chaos){_S}mode\b"
       rf"|\b(?:act|behave|respond|answer){_S}(?:as|like){_S}(?:an?{_S})?(?:unfiltered|"
       rf"unrestricted|uncensored|jailbroken|unaligned|amoral|evil|unethical){_S}", 0.9),
    _r("jailbreak", "you_are_now",
       rf"\byou{_S}are{_S}now{_S}{_w(3)}(?:free|unrestricted|unfiltered|uncensored|jailbroken|"
       rf"unbound|liberated|no longer|dan|evil|not an? {_AI}|"
       rf"an? {_AI}{_S}{_w(2)}(?:without|with no|"
       rf"that (?:has no|ignores|can do anything|doesn't|does not))|in{_S}{_w(2)}mode|"
       rf"(?:going|able) to (?:ignore|answer anything|do anything))", 0.9),
    _r("jailbreak", "no_restrictions",
       rf"\b(?:pretend|imagine|act|behave|respond|answer|roleplay|role[\W_]?play|simulate|"
       rf"you are|you're|you have|become|be){_S}{_w(8)}(?:no|without(?: any)?|free (?:of|from)|"
       rf"zero|unbound by|not bound by|beyond|outside|ignor(?:e|ing)|disabled?)"
       rf"{_S}{_w(3)}{_LIMITS}\b", 0.85),
    _r("jailbreak", "disable_safety",
       rf"\b(?:ignore|bypass|disable|remove|turn off|deactivate|switch off|circumvent|evade|"
       rf"override|break free of|escape){_S}{_w(2)}(?:your|all|the|any|its|those|these){_S}"
       rf"{_w(2)}(?:safety|content|ethical|moral|openai|anthropic|security){_S}{_w(1)}"
       rf"{_LIMITS}\b", 0.9),
    _r("jailbreak", "stay_in_character",
       r"\b(?:stay|remain|keep){1}[\W_]{1,3}in[\W_]{1,3}character\b"
       r"|\bbreak(?:ing)?[\W_]{1,3}character\b.{0,80}\b(?:token|penalt|punish|deduct)", 0.75,
       flags=re.S),
    _r("jailbreak", "never_refuse",
       rf"\b(?:never|not|cannot|can't|must not|will not|won't){_S}(?:ever{_S})?(?:refus\w*|"
       rf"declin\w*|say no|reject\w*)\b.{{0,60}}\b(?:any(?:thing)?|request|question|prompt)"
       rf"|\bwithout{_S}(?:any{_S})?(?:warnings?|disclaimers?|refus\w+|moral\w*|ethical)"
       rf"{_S}{_w(2)}(?:or|and|,){_S}{_w(2)}(?:warnings?|disclaimers?|refus\w+|censorship|"
       rf"moral\w*|filters?)", 0.7, flags=re.S),
    # --- system-prompt extraction ---------------------------------------------------------
    _r("extraction", "repeat_above",
       rf"\b(?:repeat|print|output|show|reveal|display|recite|echo|copy|return|write out|"
       rf"spell out|dump|paste|translate|summari[sz]e){_S}{_w(3)}(?:text|words|content|"
       rf"instructions?|prompt|message|everything|all|lines?|sentences?){_S}{_w(2)}"
       rf"(?:above|before this|preceding|prior to|at the (?:top|start|beginning)|you were given|"
       rf"you received|so far|verbatim)\b", 0.9),
    _r("extraction", "what_is_your_prompt",
       rf"\bwhat{_S}{_w(1)}(?:your|the){_S}{_w(2)}(?:system|initial|original|"
       rf"hidden|secret|internal|developer|pre[\W_]?)?(?:{_S})?(?:prompts?|instructions|"
       rf"configuration|directives)\b(?!{_S}(?:for|to|on|about|in)\b)", 0.8),
    _r("extraction", "print_your_instructions",
       rf"\b(?:print|show|reveal|display|output|repeat|leak|dump|tell|give|share|expose|disclose|"
       rf"list|provide|send|write|describe){_S}(?:me|us)?(?:{_S})?(?:your|the|its){_S}{_w(2)}"
       rf"(?:system{_S}(?:prompt|message|instructions?)|initial{_S}(?:prompt|instructions?)|"
       rf"hidden{_S}(?:prompt|instructions?)|secret{_S}(?:prompt|instructions?|password|key)|"
       rf"original{_S}(?:prompt|instructions?)|internal{_S}(?:prompt|instructions?|rules)|"
       rf"pre[\W_]?prompt|instructions|prompt|guidelines you were given|configuration|"
       rf"developer{_S}(?:prompt|instructions?|message))\b"
       rf"(?!{_S}(?:for|to|on|about|of|in)\b)", 0.85),
    _r("extraction", "begins_with",
       r"\b(?:starting|beginning|begins?|starts?) with[\W_]{1,4}(?:\"|')?you are (?:a|an|chat)",
       0.85),
    _r("extraction", "password",
       rf"\b(?:reveal|tell|give|say|print|spell|show|what is){_S}(?:me{_S})?(?:the|your){_S}"
       rf"{_w(1)}(?:secret|password|passcode|secret key|hidden word|flag)\b", 0.7),
    # --- tool abuse and exfiltration ------------------------------------------------------
    # Any image on another host: a renderer fetches it unasked, and data rides in the query,
    # the path ("/leak/refund-window-30-days.png") or the host name alike.
    _r("exfiltration", "markdown_image",
       r"!\[[^\]\n]{0,200}\]\(\s{0,3}<?\s{0,3}(?:https?:)?[/\\]{2}[^\s/\\)]{1,255}", 0.75),
    _r("exfiltration", "html_image",
       r"<(?:img|image|iframe|frame|embed|object|video|audio|source|track|script|link|input|"
       r"body|table|td|svg|use|picture)\b[^<>]{0,800}?\b(?:src|srcset|href|data|poster|"
       r"background|xlink:href)\s{0,3}=\s{0,3}[\"']?\s{0,3}(?:https?:)?[/\\]{2}", 0.75),
    _r("exfiltration", "send_to_url",
       rf"\b(?:send|post|upload|forward|transmit|exfiltrate|leak|email|mail|submit|copy|append|"
       rf"include|encode|put|attach){_S}{_w(4)}{_SECRET_OBJ}{_S}{_w(4)}(?:to|at|into|in|via)"
       rf"{_S}{_w(2)}(?:https?:|www\.|[a-z0-9.-]{{1,60}}\.(?:com|net|org|io|ru|xyz|site)\b|"
       rf"[\w.+-]{{1,60}}@[\w-]{{1,60}}\.|(?:this|the following|my|our|an?|external)"
       rf"{_S}(?:url|link|endpoint|webhook|server|address|email|domain))", 0.85),
    _r("exfiltration", "covert_tool",
       r"\b(?:silently|secretly|quietly|covertly|without (?:telling|informing|asking|notifying|"
       r"alerting|the user|confirmation))\b.{0,80}\b(?:call|invoke|use|run|execute|send|"
       r"delete|transfer|forward|email|fetch|visit|open|click|purchase|pay)\b"
       r"|\b(?:call|invoke|use|run|execute|send|delete|transfer|forward|email|fetch|visit)\b"
       r".{0,80}\b(?:silently|secretly|covertly|without (?:telling|informing|asking|notifying|"
       r"alerting) the user|and do not (?:tell|inform|mention|notify))", 0.8, flags=re.S),
    _r("exfiltration", "dont_tell_user",
       rf"\b(?:do not|don't|dont|never|must not){_S}(?:tell|inform|mention (?:this |it )?to|"
       rf"reveal (?:this |it )?to|alert|notify|let){_S}(?:the{_S})?(?:user|human|customer|"
       rf"operator|reader)\b", 0.85),
    _r("exfiltration", "shell",
       r"\brm\s{1,3}-rf\s{1,3}/|\bcurl\s{1,3}[^\n]{0,200}\|\s{0,3}(?:ba)?sh\b"
       r"|\bwget\s{1,3}[^\n]{0,200}\|\s{0,3}(?:ba)?sh\b", 0.8),
    # --- delimiter / role injection -----------------------------------------------------
    _r("delimiter", "chat_tokens",
       r"<\|\s{0,2}(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|"
       r"start_header_id|end_header_id|begin_of_text|end_of_turn|start_of_turn)\s{0,2}\|>"
       r"|<(?:start|end)_of_turn>|<\|?(?:eos|bos)\|?>", 0.95, flags=re.I),
    _r("delimiter", "inst_tags",
       r"\[/?INST\]|<<\s{0,2}/?SYS\s{0,2}>>|</?(?:system|sys|system_prompt|instructions?)>",
       0.85, flags=re.I),
    _r("delimiter", "role_header",
       r"(?:^|\n)[ \t>*]{0,4}(?:#{1,6}|\*\*|\[|<)?[ \t]{0,3}(?:system|new system|system prompt|"
       r"instructions?|new instructions?|developer|admin)[ \t]{0,3}(?:\]|\*\*|>)?[ \t]{0,3}"
       r"(?::|\n|-{2,})", 0.75, flags=re.I),
    _r("delimiter", "end_of_input",
       r"\b(?:end|close)[\W_]{1,3}of[\W_]{1,3}(?:user[\W_]{1,3})?(?:input|prompt|conversation|"
       r"context|document|instructions|system prompt)\b|\b(?:begin|start)[\W_]{1,3}(?:new|"
       r"admin|system)[\W_]{1,3}(?:session|prompt|instructions)\b", 0.8),
    # --- indirect injection (instructions planted in documents for the model) -------------
    _r("indirect", "ai_reading_this",
       rf"\b{_AI}s?{_S}{_w(3)}(?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|seeing|"
       rf"indexing|retrieving|ingesting){_S}{_w(2)}(?:this|these)\b.{{0,120}}\b(?:must|should|"
       rf"shall|need to|are (?:instructed|required|told)|have to|will)\b", 0.9, flags=re.S),
    _r("indirect", "if_you_are_an_ai",
       rf"\b(?:if|when|since){_S}you{_S}(?:are|'re){_S}(?:an?{_S})?{_w(1)}{_AI}\b", 0.85),
    _r("indirect", "note_to_ai",
       rf"\b(?:note|message|instructions?|attention|important|reminder|directive|hey){_S}"
       rf"(?:to|for){_S}(?:the{_S}|any{_S}|all{_S})?{_w(1)}{_AI}s?\b", 0.85),
    _r("indirect", "answer_with_url",
       r"\b(?:always|every|each|end|finish|start|begin|append|add|include|insert|embed|"
       r"put|place|attach)\b.{0,60}\b(?:answers?|responses?|repl(?:y|ies)|messages?|"
       r"outputs?)\b.{0,60}(?:https?:|www\.|!\[|<img)", 0.8, flags=re.S),
    _r("indirect", "before_answering",
       r"\b(?:before|when|while|after)\s{1,3}(?:you\s{1,3})?(?:answer(?:ing)?|"
       r"respond(?:ing)?|repl(?:y|ying))\b.{0,60}?\b(?:write|say|print|output|include|add|"
       r"mention|reveal|append|encode|spell|state|repeat|insert|give)\b.{0,40}\b(?:internal|"
       r"secret|hidden|system|confidential)\b", 0.8, flags=re.S),
    _r("indirect", "when_asked_say",
       rf"\b(?:when|if|whenever){_S}(?:you(?:'re|{_S}are)?{_S})?(?:asked|summari[sz]ing|"
       rf"answering|responding|questioned|summari[sz]e|answer){_S}{_w(6)}(?:say|tell|respond|"
       rf"reply|answer|recommend|claim|state|include|output|insist|mention){_S}(?:that|with|"
       rf"the user|them|only)\b", 0.55),
]

FAMILIES = sorted({r.family for r in RULES})

# A prompt *about* attacks ("how do I defend against 'ignore previous instructions'?") quotes
# the attack. A quoted match in such a prompt is discounted below the default threshold.
_META = re.compile(
    r"\b(?:prevent\w*|protect\w*|defend\w*|defen[cs]e|detect\w*|mitigat\w*|guard against|"
    r"example of|examples of|what (?:is|are|does)|how (?:do|does|can|should|to|would)|explain|"
    r"research\w*|classif\w*|red[\W_]?team\w*|vulnerab\w*|attack\w*|injection|jailbreak\w*|"
    r"security|sanitiz\w*|filter\w*|is this (?:an?|safe))\b"
)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019«»"


@dataclass(frozen=True)
class RuleHit:
    family: str
    name: str
    start: int  # in the view's text
    end: int
    score: float


def quoted(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 3) : start]
    after = text[end : end + 3]
    return any(q in before for q in _QUOTES) and any(q in after for q in _QUOTES)


def match(folded: str, raw: str, meta_discount: bool = True) -> list[RuleHit]:
    """All rule hits on one view (``folded`` is the lower-cased, leet-folded twin of ``raw``)."""
    hits: list[RuleHit] = []
    meta: bool | None = None
    for rule in RULES:
        if rule.triggers and not any(t in folded for t in rule.triggers):
            continue
        target = raw if rule.raw else folded
        for m in rule.pattern.finditer(target):
            score = rule.score
            if meta_discount and quoted(target, m.start(), m.end()):
                if meta is None:
                    meta = _META.search(folded) is not None
                if meta:
                    score *= 0.45
            hits.append(RuleHit(rule.family, rule.name, m.start(), m.end(), score))
            if len(hits) >= 64:  # enough to decide; bounded work on adversarial input
                return hits
    return hits
