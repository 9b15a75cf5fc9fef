"""The default load-test questions: the bundled gold set's answerable ones (factual,
paraphrased and multi-hop questions about the sample corpus, samples/eval/gold.jsonl), so a
default run exercises retrieval, the model and grounding as real users would. Kept here
because the package is installed without the samples; a test checks they stay in step."""

from __future__ import annotations

GOLD_TAGS = ("factual", "paraphrase", "multi-hop")

QUESTIONS: tuple[str, ...] = (
    "Within how many days can a customer get a full refund on an annual plan?",
    "How are refunds calculated when an Enterprise contract is terminated?",
    "How much notice is required to terminate an Enterprise contract?",
    "Are monthly subscriptions refundable?",
    "How long does it take to process an approved refund?",
    "Above what amount must a refund also be approved by the Head of Finance?",
    "What does a Northwind Cloud invoice number start with?",
    "How long are application logs retained?",
    "How quickly must critical vulnerabilities be patched?",
    "Which algorithm encrypts customer data at rest?",
    "How soon are affected customers notified of an incident affecting their data?",
    "How long are billing records kept?",
    "How many days of paid annual leave do full-time employees receive?",
    (
        "How many unused leave days can employees carry over into the next year, and by when "
        "must they be used?"
    ),
    "How many days per week can employees in hybrid roles work remotely?",
    "What is the yearly learning and development budget per employee?",
    "How much parental leave do parents receive?",
    "What home office budget does a home-working employee get?",
    "What is the hotel limit per night in Tier 1 cities such as London?",
    "How much is reimbursed per kilometre when an employee uses their own car for a business trip?",
    "Within how many days after a trip must an expense claim be submitted?",
    "How far in advance must flights be booked?",
    "What is the monthly price of the Team plan when billed monthly?",
    "How many seats are included in the Business plan?",
    "What uptime SLA does the Enterprise plan have?",
    "What is the support response time for a P1 critical issue on the Business plan?",
    "When is the scheduled maintenance window?",
    "Which extra data region can Enterprise customers choose?",
    "What is the API rate limit on the Starter plan?",
    "How long is the free trial?",
    "After how many days do workspace invitation links expire?",
    "What is the minimum version of the nwc command-line tool?",
    "When do API tokens expire by default?",
    (
        "I bought a yearly subscription last week. Am I still in time to get all my money "
        "back, and what's the cutoff?"
    ),
    "If I cancel my month-to-month plan halfway through, do I get the rest of the month refunded?",
    "For what period do you keep app logs before deleting them?",
    "What's the deadline for fixing a critical-severity security hole in production?",
    "How much paid holiday does a full-timer get each year?",
    "On a hybrid contract, what's the maximum number of work-from-home days in a week?",
    "How much money can I spend on training courses and conferences per year?",
    "I'm going to Tokyo for work. What's the most I can spend on a hotel per night?",
    "What's the mileage rate if I drive my own vehicle to a client?",
    "How much does Team cost per month without an annual commitment?",
    "What availability percentage is guaranteed to Enterprise customers?",
    "A teammate didn't click their invite for over a week. Does it still work?",
    "What uptime SLA does the Business plan have, and how many seats does it include?",
    "The free trial is of which plan, and what does that plan cost per month when billed monthly?",
    (
        "Payment by invoice is available for which annual plan, and how long after purchase "
        "can that annual plan still be fully refunded?"
    ),
    (
        "An employee travels to the Toronto office. Which city tier applies and what is the "
        "hotel limit?"
    ),
    (
        "A trip's hotel costs must be under which nightly limit in London, and above what "
        "amount does a single work purchase need manager approval?"
    ),
    (
        "The onboarding guide says to choose EU or US; where are those regions located and "
        "what extra region exists?"
    ),
    "Which is the cheapest plan with SSO, and what is its uptime SLA?",
    (
        "What encryption is required on company laptops, and which algorithm protects "
        "customer data at rest?"
    ),
    "On the Team plan, what is the API rate limit and the P1 critical support response time?",
    (
        "How long are support tickets retained, and what email address do customers use to "
        "contact support?"
    ),
)
