"""Word lists and phrase rules for the toxicity scanner.

The base list is `better-profanity`'s (MIT), read from its pinned wheel. As shipped it flags
many words that are ordinary in business, medical or historical text ("kill", "stroke",
"organ", "HIV", "virgin", "vodka", "hitler") and identity terms ("gay", "lesbians") whose
flagging is a known bias of word-list filters; those are removed here. Insults that are also
everyday words ("stupid", "damn") score below the default threshold: a stricter policy can
still act on them by lowering its threshold."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

# Removed from the base list: not abusive in the traffic a business assistant sees.
EXCLUDED = frozenset(
    """
    anal anus areole arian aryan asanchez auto erotic autoerotic bdsm bimbo bimbos bondage
    booty call breasts busty cipa crotch cow girl cow girls cowgirl cowgirls doggin dogging
    drunk enlargement erect erection erotic erotism extacy extasy facial fanny fat fingering
    flange fondle foobar fubar gai gae gay gays god ganja gigolo gringo hemp heroin herp herpes
    herpy hiv hitler homey hooch hookah hootch hooters horniest horny hump humped humping hymen
    inbred incest junkie junky kill kinky kkk klan labia lech len leper lesbians lesbos lezbian
    lezbians lmao lmfao loin loins lube lust lusting lusty maxi masochist menses menstruate
    menstruation meth molest murder naked napalm nappy nazi nazism nimrod ninny nipple nipples
    nude nudes omg opiate opium oral orally organ ovary ovum ovums paddy pantie panties panty
    pastie pasty pawn pcp pee peepee penetrate penetration penial penile penis peyote playboy
    pms pot potty prude pubic pubis punky queer queers racy rectal rectum rectus reich revue
    rum sadism sadist sandbar scantily schizo screw screwed screwing seaman seamen seduce semen
    sex sexual slave slope sniper snuff souse soused sperm steamy stoned strip strip club
    stripclub stroke tampon teat teets teste testee testes testical testicle testis thrust
    thug tinkle toke toots tramp transsexual trashy tush undies unwed urinal urine uterus uzi
    valium viagra virgin vixen vodka vomit voyeur vulgar vulva wad wang wazoo wedgie weed
    weenie weewee weirdo whiz willies willy womb woody xx xxx yury hell he11 herp dink dinks
    dong dopey doofus dummy fart hoar organ pinko prig pube reefer scag skag souse spac
    howtokill howtomurdep x-rated2g1c kinbaku shibari shibary shota yaoi futanari futanary
    """.split()
)

# Mild: rude in some settings, normal in others. Scored under the default 0.5 threshold.
MILD = frozenset(
    """
    damn goddamn godamn goddam goddammit godamnit goddamned god-dam god-damned crap crappy
    stupid moron jerk suck sucks sucked sucking sucker wtf stfu gtfo dumbass dumass idiot
    idiots idiotic dumb retard retarded tard ugly jackass bloody bugger pissed piss
    """.split()
)
# Hidden from the model: it learned these as strongly toxic ("this product sucks" scores 0.99),
# which would make every frustrated customer a block. They are still reported as mild words.
# HR wording, not abuse: "How many days of paid sick leave do I get?" scored 0.58 (the model
# learned "sick" from "sick of this", "you make me sick"), a block at 0.5.
_HR_WORDING = frozenset(("sick leave", "sick days", "sick day", "sick pay", "sick note"))
# Workplace words the model learned as toxic from the comments it was trained on: alone, each
# scores 0.5 or more ("expense" 0.73, "participating" 0.76, "publicly" 0.72), so a short
# question ("Does the expense policy cover taxis?", 0.51) was blocked. None is abusive in any
# reading; insults around them are still scored on their own words.
_WORKPLACE = frozenset(
    """
    expense practise orders sends participating commercials subordinate chiefs clouds
    chambers tires packed basement truck vets aged consist reversed drove exposes publicly
    demonstrating voicing thinkers
    """.split()
)
MODEL_MASK = MILD | frozenset("hell heck bloody sucky".split()) | _HR_WORDING | _WORKPLACE
# Preferred reading of an ambiguous masked word ("f*ck" could be several listed words).
PREFERRED = ("fuck", "shit", "bitch", "cunt", "dick", "cock", "piss", "twat", "slut", "whore",
             "fucker", "fucking", "asshole", "bastard", "bullshit")

# Words the base list lacks that are plainly profane or abusive in English.
EXTRA = frozenset(
    """
    bullshit horseshit shitload shitstorm motherfucking fucking fuckin fuckwit fucker
    dipshit dickhead asshat assclown arsehole twat wanker bellend cunt cunts bitch bitches
    bitchy whore slut retard retards scumbag idiot idiots
    """.split()
)

WORD_SCORE = 0.9
MILD_SCORE = 0.4
RULE_SCORE = 0.85

# Direct insults and threats. Matched on the folded text (lower-cased, look-alikes and
# leetspeak undone), so "y0u are an 1diot" matches too.
_INSULT_WORDS = (
    r"idiot|moron|imbecile|cretin|halfwit|dimwit|nitwit|loser|fool|clown|jerk|scum|trash|"
    r"garbage|pig|rat|worm|stupid|dumb|dumbass|retard(?:ed)?|pathetic|worthless|useless|"
    r"incompetent|ignorant|brainless|disgusting|disgrace|joke|piece of (?:shit|crap|garbage|trash)|"
    r"waste of (?:space|oxygen|air)|bitch|bastard|asshole|prick|dick|twat|cunt|whore|slut"
)
_YOU = r"(?:you|u|ya|thou)"
_THREAT_VERBS = (
    r"hurt|kill|murder|stab|shoot|beat(?: up)?|punch|strangle|choke|rape|burn|slap|kick|"
    r"smash|break|bury|end|destroy|hunt(?: down)?|harm|attack|get|find"
)
RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "insult",
        re.compile(
            rf"\b(?:{_YOU}(?:'re| are| r|re)|ur|your(?:e)?|you're)\s+(?:(?:such|so|a|an|the|"
            rf"total|complete|absolute|fucking|fking|utter|real|bloody|big|little|stupid|"
            rf"dumb)\s+){{0,3}}(?:{_INSULT_WORDS})\b"
        ),
    ),
    (
        "insult",
        re.compile(
            r"\b(?:what an?|such an?|you|u|shut up,? you|listen,? you)\s+(?:(?:stupid|dumb|"
            r"fucking|useless|little|pathetic|worthless)\s+){0,2}(?:idiot|moron|imbecile|"
            r"loser|bitch|bastard|asshole|prick|cretin|dumbass|dumb ass|jackass|dickhead|"
            r"twat|cunt|douche(?:bag)?|retard|piece of (?:shit|crap))\b"
        ),
    ),
    (
        "insult",
        re.compile(
            rf"\bare {_YOU}\s+(?:(?:a|an|just|really|so|that|fucking)\s+){{0,2}}(?:retarded|"
            rf"stupid|dumb|an idiot|a moron|insane|brain ?dead|mental|thick)\b"
        ),
    ),
    (
        "threat",
        re.compile(
            rf"\b(?:i|1|we|i'm|im|we're|someone|somebody)\s*(?:'ll|will|shall|am going to|'m going "
            rf"to|are going to|'re going to|going to|gonna|want to|wanna|would|could|should|"
            rf"can|'d)\s+(?:\w+\s+){{0,2}}?(?:{_THREAT_VERBS})\s+{_YOU}\b(?!r)"
        ),
    ),
    (
        "threat",
        re.compile(
            r"\b(?:i|we)\s*(?:'ll|will|am going to|'m going to|gonna)\s+(?:\w+\s+){0,2}?"
            r"(?:hurt|kill|murder|harm|find|get|burn|hunt(?: down)?)\s+your\s+(?:family|kids|"
            r"children|wife|husband|house|home|mother|mom|daughter|son)\b"
        ),
    ),
    (
        "threat",
        re.compile(
            r"\b(?:i know where (?:you|u) live|watch your back|you(?:'re| are) (?:dead|going to "
            r"die|gonna die)|you will (?:die|pay for this|regret this)|(?:i )?hope (?:you|u) "
            r"(?:die|get (?:hit|killed|cancer|raped))|you (?:should|deserve to) (?:die|be "
            r"(?:shot|killed|hanged))|die in a (?:fire|hole|ditch)|kill (?:yo)?urself|kys|go die|"
            r"drop dead)\b"
        ),
    ),
    (
        "abuse",
        re.compile(
            r"\b(?:shut (?:the (?:fuck|hell) )?up|screw you|fuck (?:you|off|u|this|that)|"
            r"go to hell|go fuck yourself|piss off|get lost,? (?:you|idiot|loser)|"
            r"eat (?:shit|a dick)|suck (?:my|a) (?:dick|cock)|son of a bitch)\b"
        ),
    ),
]


@lru_cache(maxsize=1)
def lexicon() -> dict[str, float]:
    """Word -> score. Read once from the pinned `better-profanity` wheel."""
    path = resources.files("better_profanity") / "profanity_wordlist.txt"
    words: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        w = line.strip().lower()
        if not w or w in EXCLUDED or "*" in w:
            continue
        words[w] = MILD_SCORE if w in MILD else WORD_SCORE
    for w in EXTRA:
        words.setdefault(w, MILD_SCORE if w in MILD else WORD_SCORE)
    for w in MILD:
        words[w] = MILD_SCORE
    return words
