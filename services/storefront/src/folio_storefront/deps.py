"""Request-scoped access to what the lifespan built (FastAPI dependencies)."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from folio_storefront.catalog_client import CatalogClient


def _catalog(request: Request) -> CatalogClient:
    catalog: CatalogClient = request.app.state.catalog
    return catalog


def _templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


CatalogDep = Annotated[CatalogClient, Depends(_catalog)]
TemplatesDep = Annotated[Jinja2Templates, Depends(_templates)]
