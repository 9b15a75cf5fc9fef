"""What each role may do: named scopes and the role -> scope matrix.

Every HTTP route and every CLI command declares the one scope it needs (the gateway's route
table, `lockgate.gateway.scoping`; the CLI's commands, `lockgate.cli.authz`); a principal may
use it when one of its roles grants that scope. The matrix below is the default; config
(`auth.role_scopes`) may replace the list of any role but `admin`, which always holds every
scope, so that an override can never lock the operators out of key management."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lockgate.auth.roles import ADMIN, ROLES, check_roles
from lockgate.config import AuthConfig, ConfigError

# -- what apps call ---------------------------------------------------------------------------
CHAT = "chat"
EMBEDDINGS = "embeddings"
SEARCH = "search"
MODELS_READ = "models:read"
GUARD_CHECK = "guard:check"
FILES = "files"
BATCHES = "batches"
TOOLS = "tools"  # tool calling on chat completions and the tool registry
SCHEMA_READ = "schema:read"  # /openapi.json: every role may read what the API looks like
FEEDBACK = "feedback"  # users' ratings of answers (POST /v1/feedback, `lockgate feedback`)
# -- what people who run, review and account for the gateway use -----------------------------
TRACES_READ = "traces:read"
PROMPTS_WRITE = "prompts:write"
PROMPTS_READ = "prompts:read"  # the prompt registry: list, show, diff
PROMPTS_PIN = "prompts:pin"  # a request may name its own prompt (lockgate.prompt)
METRICS_READ = "metrics:read"
REVIEW = "review"  # the human review queue (/v1/reviews*) and guardrail escalations
# One item's status: its reviewers, and the caller whose answer it holds (the queue decides
# which of the two a principal is).
REVIEW_STATUS = "review:status"
COSTS = "costs"  # spend and routing reports
EVAL_RUN = "eval:run"  # run evaluation datasets through the pipeline, label experiments
EVAL_READ = "eval:read"  # list, show and compare experiments; the gate
RELEASES_READ = "releases:read"  # staged releases: list, status and live window metrics
# -- operators ---------------------------------------------------------------------------------
KEYS_ADMIN = "keys:admin"  # API keys and the master key
AUDIT_READ = "audit:read"
PRIVACY_ADMIN = "privacy:admin"  # export, forget, purge
CONFIG_READ = "config:read"
DOCS_READ = "docs:read"  # documents, chunks, ingest runs and sources, as the operator sees them
DOCS_WRITE = "docs:write"  # ingest and retry
CACHE_ADMIN = "cache:admin"
BATCHES_ADMIN = "batches:admin"  # every owner's batches at once
SERVE = "gateway:serve"  # start a gateway on this host
RELEASES_ADMIN = "releases:admin"  # create, promote and roll back releases (all traffic)
LOADTEST = "loadtest"  # drive load at a deployment and store the result

# Not a scope anybody holds: the route answers without a credential (the health probes).
PUBLIC = "public"

SCOPES: dict[str, str] = {
    CHAT: "chat completions, grounded or pass-through",
    EMBEDDINGS: "embeddings",
    SEARCH: "hybrid retrieval over the caller's documents",
    MODELS_READ: "the list of models",
    GUARD_CHECK: "run the guardrail policy on a text",
    FILES: "upload and read one's own files",
    BATCHES: "create, read and cancel one's own batches",
    TOOLS: "tool calling and the tool registry",
    SCHEMA_READ: "the OpenAPI document",
    FEEDBACK: "rate an answer of one's tenant; feedback reports",
    TRACES_READ: "request traces of one's tenant",
    PROMPTS_WRITE: "push prompts, move and roll back their labels",
    PROMPTS_READ: "list, show and diff registry prompts",
    PROMPTS_PIN: "answer a request with a prompt version or label it names (lockgate.prompt)",
    METRICS_READ: "Prometheus metrics",
    REVIEW: "the human review queue and guardrail escalations",
    REVIEW_STATUS: "the status of one review item: one's own held answer, or as its reviewer",
    COSTS: "spend and routing reports",
    EVAL_RUN: "run evaluation datasets, label experiments, add cases from traces",
    EVAL_READ: "evaluation experiments, comparisons and the regression gate",
    KEYS_ADMIN: "create, list, revoke and rotate API keys; rotate the master key",
    AUDIT_READ: "read, verify and export the audit log",
    PRIVACY_ADMIN: "export, forget and purge personal data",
    CONFIG_READ: "the effective configuration (secrets masked)",
    DOCS_READ: "documents, chunks, ingest runs and sources",
    DOCS_WRITE: "ingest documents",
    CACHE_ADMIN: "cache statistics and clearing",
    BATCHES_ADMIN: "every owner's batches",
    SERVE: "start the gateway",
    RELEASES_READ: "staged releases, their history and window metrics",
    RELEASES_ADMIN: "create, promote, roll back and check staged releases",
    LOADTEST: "run load tests against a deployment and keep their results",
}

_APP = (
    CHAT,
    EMBEDDINGS,
    SEARCH,
    MODELS_READ,
    FILES,
    BATCHES,
    GUARD_CHECK,
    TOOLS,
    SCHEMA_READ,
    REVIEW_STATUS,
    FEEDBACK,
)
DEFAULT_ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    ADMIN: tuple(SCOPES),
    "developer": (
        *_APP,
        TRACES_READ,
        PROMPTS_WRITE,
        PROMPTS_READ,
        PROMPTS_PIN,
        METRICS_READ,
        EVAL_RUN,
        EVAL_READ,
        RELEASES_READ,
    ),
    "reviewer": (REVIEW, REVIEW_STATUS, TRACES_READ, SCHEMA_READ),
    "analyst": (
        TRACES_READ,
        METRICS_READ,
        COSTS,
        SCHEMA_READ,
        EVAL_READ,
        PROMPTS_READ,
        RELEASES_READ,
    ),
    "app": _APP,
}


def check_overrides(overrides: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """Config overrides, checked: known roles other than admin, known scopes. ValueError
    naming the first offender."""
    checked: dict[str, tuple[str, ...]] = {}
    for role, scopes in overrides.items():
        if role not in ROLES:
            raise ValueError(f"unknown role '{role}' (known: {', '.join(ROLES)})")
        if role == ADMIN:
            raise ValueError("the admin role always holds every scope and cannot be overridden")
        listed = tuple(dict.fromkeys(scopes))
        for scope in listed:
            if scope not in SCOPES:
                raise ValueError(
                    f"role '{role}': unknown scope '{scope}' (known: {', '.join(SCOPES)})"
                )
        checked[role] = listed
    return checked


class ScopeMatrix:
    """Which scopes a set of roles grants. The answer per distinct role tuple is computed
    once: the check sits on every request, and keys carry only a handful of role sets."""

    def __init__(self, overrides: Mapping[str, Iterable[str]] | None = None) -> None:
        table = dict(DEFAULT_ROLE_SCOPES)
        table.update(check_overrides(overrides or {}))
        self.table: dict[str, frozenset[str]] = {r: frozenset(s) for r, s in table.items()}
        self._granted: dict[tuple[str, ...], frozenset[str]] = {}
        # What an unauthenticated caller holds where anonymous access is on.
        self.anonymous_roles: tuple[str, ...] = ()

    def granted(self, roles: tuple[str, ...]) -> frozenset[str]:
        found = self._granted.get(roles)
        if found is None:
            found = frozenset().union(*(self.table.get(r, frozenset()) for r in roles))
            if len(self._granted) < 4096:  # bounded: role tuples come from keys and tokens
                self._granted[roles] = found
        return found

    def allows(self, roles: tuple[str, ...], scope: str) -> bool:
        return scope == PUBLIC or scope in self.granted(roles)


def matrix_of(cfg: AuthConfig) -> ScopeMatrix:
    """The matrix the auth settings describe; ConfigError naming the key when `role_scopes`
    or `anonymous_roles` names an unknown role or scope, or makes the anonymous caller an
    admin."""
    try:
        matrix = ScopeMatrix(cfg.role_scopes)
    except ValueError as exc:
        raise ConfigError(f"invalid config key 'auth.role_scopes': {exc}") from None
    try:
        roles = check_roles(cfg.anonymous_roles) if cfg.anonymous_roles else ()
    except ValueError as exc:
        raise ConfigError(f"invalid config key 'auth.anonymous_roles': {exc}") from None
    if ADMIN in roles:
        raise ConfigError(
            "invalid config key 'auth.anonymous_roles': the anonymous principal cannot have "
            "the admin role"
        )
    matrix.anonymous_roles = roles
    return matrix
