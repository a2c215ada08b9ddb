"""A local, offline server that answers like Symbl.ai's REST API (auth, Async, Job and Conversation APIs)."""

from symbl_server.server import LocalSymblServer
from symbl_server.settings import FaultSettings, ServerSettings

__all__ = ["FaultSettings", "LocalSymblServer", "ServerSettings"]
