"""The deployable code location: the symbl pipeline wired from environment variables.

``dagster dev -w workspace.yaml`` loads ``defs`` from here; every setting is documented in the README.
"""

from symbl_dagster.pipeline import definitions_from_env

defs = definitions_from_env()
