"""The deployable code location: the symbl pipeline wired from environment variables.

``dg dev`` / ``dagster dev -w workspace.yaml`` load ``defs`` from here (``symbl_dagster.definitions``); every setting is documented in the README.
"""

from symbl_dagster.pipeline import definitions_from_env

defs = definitions_from_env()
