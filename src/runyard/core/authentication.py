"""`azureml.core.authentication`: a runyard workspace is a folder (or a server with a token), so there is
no Azure sign-in. These classes are accepted where the samples pass them (`auth=` of Workspace) and do
nothing; a remote workspace authenticates with its token (`Workspace.connect(url, token=...)`)."""

from __future__ import annotations

from typing import Any


class AbstractAuthentication:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.arguments = kwargs

    def get_authentication_header(self) -> dict[str, str]:
        return {}


class InteractiveLoginAuthentication(AbstractAuthentication):
    pass


class ServicePrincipalAuthentication(AbstractAuthentication):
    pass


class AzureCliAuthentication(AbstractAuthentication):
    pass


class MsiAuthentication(AbstractAuthentication):
    pass


class TokenAuthentication(AbstractAuthentication):
    pass


__all__ = ["AbstractAuthentication", "AzureCliAuthentication", "InteractiveLoginAuthentication",
           "MsiAuthentication", "ServicePrincipalAuthentication", "TokenAuthentication"]
