"""What the cost projection (`lockgate cost project`) compares the model spend with: the
cost of the same task done by a person, and the traffic the deployment is sized for."""

from __future__ import annotations

from pydantic import Field

from lockgate.config._base import Strict


class CostsConfig(Strict):
    # What one task costs when a person does it (loaded salary x time); unset: no ROI line.
    human_cost_per_task_usd: float | None = Field(None, ge=0)
    # The person's time one answered task saves, for the hours-saved figure.
    minutes_saved_per_task: float | None = Field(None, ge=0)
    # How many tasks one request settles: a conversation of 4 turns for one task is 0.25.
    tasks_per_request: float = Field(1.0, gt=0)
    # The users the deployment is sized for: the projected peak that a load test is measured
    # against ("stress test at 3x projected load"). Unset: the users seen in the traces.
    expected_users: int | None = Field(None, ge=1)
    days_per_month: float = Field(30.0, gt=0)
