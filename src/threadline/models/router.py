from __future__ import annotations

from fastapi import APIRouter

from threadline.http.deps import ProjectId, SettingsDep
from threadline.models import service
from threadline.models.schemas import ModelList, ModelObject

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=ModelList)
async def list_models(project: ProjectId, settings: SettingsDep):
    return ModelList(data=await service.list_models(settings))


@router.get("/{model:path}", response_model=ModelObject)
async def retrieve_model(project: ProjectId, settings: SettingsDep, model: str):
    return await service.retrieve_model(settings, model)
