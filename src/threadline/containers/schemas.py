"""Wire models of containers and their files (field-exact with the Responses spec's
CreateContainerBody, CreateContainerFileBody, ContainerResource, ContainerFileResource and
their list resources).

A container is a code_interpreter sandbox session with its files under `/mnt/data`. Of what
a request may ask, Threadline's sandbox (docs/security.md) changes two things:
- `memory_limit` is accepted and echoed, but the memory a container's code may use is the
  server's sandbox budget (`THREADLINE_CODE_SESSION_MEMORY_MB` for a session's processes
  together, `THREADLINE_CODE_MEMORY_MB` for each), the same for every container;
- the sandbox has no network: a `network_policy` of `{"type": "disabled"}` is what every
  container has, and an `allowlist` is refused (a 400 from the service, which holds the rule).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from threadline.schemas import COLUMN_INT_MAX, Omittable, Part, Request, Wire, by_field

MemoryLimit = Literal["1g", "4g", "16g", "64g"]
# The spec's only bound on the files a container starts with (ContainerAutoParam).
MAX_FILE_IDS = 50

# -- requests -----------------------------------------------------------------------------------


class ContainerExpiresAfterParam(Part):
    anchor: Literal["last_active_at"]
    minutes: Annotated[int, Field(ge=1, le=COLUMN_INT_MAX)]


class ContainerNetworkPolicyDisabledParam(Part):
    type: Literal["disabled"]


class ContainerNetworkPolicyDomainSecretParam(Part):
    domain: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]
    value: Annotated[str, Field(min_length=1, max_length=10_485_760)]


class ContainerNetworkPolicyAllowlistParam(Part):
    type: Literal["allowlist"]
    allowed_domains: Annotated[list[str], Field(min_length=1)]
    domain_secrets: (
        Annotated[list[ContainerNetworkPolicyDomainSecretParam], Field(min_length=1)] | None
    ) = None


ContainerNetworkPolicyParam = by_field(
    "type",
    {
        "disabled": ContainerNetworkPolicyDisabledParam,
        "allowlist": ContainerNetworkPolicyAllowlistParam,
    },
)


class CreateContainerBody(Request):
    """`memory_limit` is kept and echoed only: every container's code runs under the
    server's sandbox budget (`THREADLINE_CODE_SESSION_MEMORY_MB`, docs/security.md)."""

    name: str
    file_ids: Annotated[list[str], Field(max_length=MAX_FILE_IDS)] | None = None
    expires_after: ContainerExpiresAfterParam | None = None
    memory_limit: MemoryLimit | None = None
    network_policy: ContainerNetworkPolicyParam | None = None
    # Skill references or inline skills: none is available here, so any is refused (the
    # service's 400); their shapes are not read.
    skills: list[dict[str, Any]] | None = None


class CreateContainerFileBody(Request):
    """The JSON form of adding a file (the multipart form carries `file` instead)."""

    file_id: str | None = None


# -- as returned --------------------------------------------------------------------------------


class ContainerExpiresAfter(BaseModel):
    anchor: Literal["last_active_at"]
    minutes: int


class ContainerNetworkPolicy(Wire):
    type: Literal["allowlist", "disabled"]
    allowed_domains: Omittable[list[str]] = None


class ContainerObject(Wire):
    id: str
    object: Literal["container"] = "container"
    name: str
    created_at: int
    # "running", or "expired" once idle for longer than `expires_after`.
    status: Literal["running", "expired"]
    last_active_at: int
    expires_after: ContainerExpiresAfter
    memory_limit: MemoryLimit
    network_policy: ContainerNetworkPolicy


class ContainerDeleted(Wire):
    id: str
    object: Literal["container.deleted"] = "container.deleted"
    deleted: Literal[True] = True


class ContainerFileObject(Wire):
    id: str
    object: Literal["container.file"] = "container.file"
    container_id: str
    created_at: int
    bytes: int
    # `/mnt/data/<name>`.
    path: str
    source: Literal["user", "assistant"]


class ContainerFileDeleted(Wire):
    id: str
    object: Literal["container.file.deleted"] = "container.file.deleted"
    deleted: Literal[True] = True
