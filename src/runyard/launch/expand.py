"""`$LOCAL_RANK`-style tokens in a job's arguments, expanded per process."""

from __future__ import annotations

import re
from collections.abc import Mapping

_VAR = re.compile(r"\$(\{)?([A-Za-z_][A-Za-z0-9_]*)(?(1)\})")


def expand(argument: str, values: Mapping[str, str]) -> str:
    """Replace $NAME / ${NAME} for names in `values`; leave any other $ text alone."""
    return _VAR.sub(lambda m: values.get(m.group(2), m.group(0)), argument)


# the torchrun contract and the service's launch variables
CONTRACT = frozenset({"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
                      "NODE_RANK", "GROUP_RANK", "AZ_BATCH_MASTER_NODE", "AZ_BATCHAI_MPI_MASTER_NODE",
                      "AZ_BATCHAI_PYTORCH_INIT_METHOD", "AZ_BATCHAI_TASK_INDEX"})
JOB_VARIABLES = "RUNYARD_JOB_VARIABLES"  # names of the job's own environment_variables, comma-separated


def expandable(env: Mapping[str, str]) -> dict[str, str]:
    """The variables an argument may name: runyard's and the job's own, not the whole environment
    (an argument "$HOME" stays literal, as it would without a shell)."""
    job = set(filter(None, env.get(JOB_VARIABLES, "").split(",")))
    return {k: v for k, v in env.items()
            if k in CONTRACT or k in job or k.startswith(("AZUREML_DATAREFERENCE_", "RUNYARD_", "OMPI_COMM_WORLD_"))}
