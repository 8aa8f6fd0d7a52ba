"""Bearer tokens: who is calling, and which projects they may see."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from quantix_lb.errors import ApiError, Code


@dataclass(frozen=True)
class Principal:
    """A caller. `project_id` is None for an admin, who sees every project."""

    project_id: str | None
    role: str = "project"  # project | admin | worker

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    def may_see(self, project_id: str) -> bool:
        return self.admin or self.project_id == project_id


ANONYMOUS_ADMIN = Principal(project_id=None, role="admin")
ROLES = ("admin", "worker")  # grants without a project
ALL_ROLES = ("admin", "project", "worker")
TENANT_ROLES = ("admin", "project")  # who may use LoadBalancerService
WORKER_ROLES = ("admin", "worker")  # who may open the health workers' stream


def _digest(token: str) -> str:
    # Tokens are looked up by digest so the table never holds or compares secrets.
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    """Maps `Authorization: Bearer <token>` to a Principal. Without a token file
    every caller is an admin (auth off, loopback only unless --insecure)."""

    def __init__(self, principals: dict[str, Principal] | None) -> None:
        self._by_digest = {_digest(t): p for t, p in principals.items()} if principals is not None else None

    @property
    def enabled(self) -> bool:
        return self._by_digest is not None

    @classmethod
    def from_file(cls, path: Path) -> Authenticator:
        """File format (JSON): {"<token>": {"project_id": "proj-123"}, "<token>": {"role": "admin"}}."""
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read auth tokens from {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a JSON object of token -> grant")
        principals: dict[str, Principal] = {}
        for token, grant in raw.items():
            if not token or not isinstance(grant, dict):
                raise ValueError(f"{path}: each token needs an object grant")
            role = grant.get("role", "project")
            if role in ROLES:
                principals[token] = Principal(project_id=None, role=role)
            elif role == "project" and isinstance(grant.get("project_id"), str) and grant["project_id"]:
                principals[token] = Principal(project_id=grant["project_id"])
            else:
                raise ValueError(
                    f'{path}: a grant is {{"project_id": "..."}} or {{"role": "admin"|"worker"}}'
                )
        return cls(principals)

    def add(self, token: str, principal: Principal) -> None:
        """Grants one more token (e.g. the local health worker's) when auth is on."""
        if self._by_digest is not None:
            self._by_digest[_digest(token)] = principal

    def authenticate(self, authorization: str | None) -> Principal:
        if self._by_digest is None:
            return ANONYMOUS_ADMIN
        if not authorization:
            raise ApiError(Code.UNAUTHENTICATED, "missing Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(Code.UNAUTHENTICATED, "Authorization must be 'Bearer <token>'")
        principal = self._by_digest.get(_digest(token.strip()))
        if principal is None:
            raise ApiError(Code.UNAUTHENTICATED, "unknown token")
        return principal
