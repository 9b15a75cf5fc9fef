"""Built-in stages; importing this package registers them."""

from lockgate.gateway.stages import (  # noqa: F401
    budget,
    build_prompt,
    cache,
    call_model,
    context_guard,
    input_guard,
    output_guard,
    postprocess,
    rate_limit,
    retrieve,
    route,
    validate,
)
