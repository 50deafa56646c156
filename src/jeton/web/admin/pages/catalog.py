"""The catalog and its prices: the active version's services and rewards, and changing them.

Every change makes a new catalog version (services/charging/catalogs.py); each goes through a review
that shows what the new version would add, change and retire (a dry run), and what the last
30 days of charges would have cost under it per service and per member (the catalog preview,
decision 0065), before it is made:

    /catalog/load                    a whole catalog file (TOML or YAML), every error listed
    /catalog/services/new            one service, by form
    /catalog/services/{code}/edit    one service's price, access and allowance
    /catalog/services/{code}/retire  take a service out (it is kept, marked retired)

The review carries the version it was made against. If the catalog moved on before the owner
confirms, the change is refused and reviewed again, unless the catalog already is what was
asked for (the same form sent twice), which is answered as done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from jeton.app import Community
from jeton.core.catalog import Catalog
from jeton.core.catalog import load_catalog as parse_catalog
from jeton.core.errors import InvalidRequest, NotFound
from jeton.services.access.staff import Permission, StaffSession
from jeton.services.charging.results import CatalogInfo, CatalogLoad, CatalogPreview
from jeton.web.admin import catalog_forms as cf
from jeton.web.admin.context import admin_context
from jeton.web.admin.forms import (
    Fields,
    FormValues,
    audit,
    redirect_to,
    sentence,
    staff_actor,
)
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import Configurer, CurrentStaff
from jeton.web.admin.templating import render

router = page_router()

FORMATS = [("toml", "TOML"), ("yaml", "YAML")]
AUDIT_CODES_MAX = 20  # codes named in an audit record; the counts say the rest
PREVIEW_DAYS = 30  # the review replays this many days of charges through the new catalog
PREVIEW_MEMBERS_SHOWN = 10  # the most affected members the review lists
MOVED = ("The catalog changed since this review (it is now version {version}), so nothing was "
         "changed. Check the review below and confirm again.")


@router.get("/catalog", name="admin.catalog")
def catalog_page(request: Request, staff: CurrentStaff) -> HTMLResponse:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    info = ctx.community(staff.community_id, asset).catalog(include_retired=True)
    return render(request, "admin/catalog.html", {
        "info": info, "asset": asset,
        "services": [s for s in info.services if not s.retired],
        "rewards": [r for r in info.rewards if not r.retired],
        "retired": [s for s in info.services if s.retired],
        "retired_rewards": [r for r in info.rewards if r.retired],
        "can_configure": staff.can(Permission.configure),
    }, section="catalog")


# ---- a whole catalog file ----

@router.get("/catalog/load", name="admin.catalog_load_form")
def load_form(request: Request, staff: Configurer) -> HTMLResponse:
    return _load_form(request, {"text": "", "format": "toml"})


@router.post("/catalog/load/review", name="admin.catalog_load_review")
def load_review(request: Request, staff: Configurer, form: FormValues) -> HTMLResponse:
    values = {"text": form.get("text", ""), "format": form.get("format", "toml")}
    community = _community(request, staff)
    if not values["text"].strip():
        return _load_form(request, values, {"text": "Paste the catalog file here."})
    if values["format"] not in dict(FORMATS):
        return _load_form(request, values, {"format": "Choose TOML or YAML."})
    version = community.catalog().version
    try:
        preview = community.load_catalog(values["text"], _fmt(values["format"]), dry_run=True)
    except InvalidRequest as exc:
        return _load_form(request, values, problems=_problems(exc))
    parsed = parse_catalog(values["text"], _fmt(values["format"])).catalog
    scale = admin_context(request).credit_asset(staff.community_id).scale
    prices = cf.price_changes(community.catalog(), parsed, preview.updated, scale)
    return _load_review(request, values, preview, version, prices=prices,
                        replay=_replay(community, parsed))


@router.post("/catalog/load", name="admin.catalog_load")
def load(request: Request, staff: Configurer, form: FormValues) -> Response:
    values = {"text": form.get("text", ""), "format": _fmt(form.get("format", "toml"))}
    community = _community(request, staff)
    current = community.catalog().version
    try:
        preview = community.load_catalog(values["text"], values["format"], dry_run=True)
        if str(current) != form.get("version", "") and preview.changed:
            return _load_review(request, values, preview, current, status_code=409,
                                refusal=MOVED.format(version=current))
        done = community.load_catalog(values["text"], values["format"],
                                      actor=staff_actor(staff))
    except InvalidRequest as exc:
        return _load_form(request, values, problems=_problems(exc))
    if not done.changed:
        return redirect_to(request, "admin.catalog", notice="catalog_unchanged")
    audit(request, staff, "catalog.loaded", target=f"version {done.version}",
          detail=_load_detail(done))
    return redirect_to(request, "admin.catalog", notice="catalog_loaded")


# ---- one service ----

@router.get("/catalog/services/new", name="admin.service_new")
def service_new(request: Request, staff: Configurer) -> HTMLResponse:
    scale = admin_context(request).credit_asset(staff.community_id).scale
    info = _community(request, staff).catalog()
    return _service_form(request, staff, cf.form_values("", None, scale), info, new=True)


@router.get("/catalog/services/{code}/edit", name="admin.service_edit")
def service_edit(request: Request, staff: Configurer, code: str) -> HTMLResponse:
    scale = admin_context(request).credit_asset(staff.community_id).scale
    info = _community(request, staff).catalog()
    entry = cf.catalog_data(info)["services"].get(code)
    if entry is None:
        raise NotFound(f"no service {code!r} in the active catalog")
    return _service_form(request, staff, cf.form_values(code, entry, scale), info, new=False)


@router.post("/catalog/services/edit", name="admin.service_back")
def service_back(request: Request, staff: Configurer, form: FormValues) -> HTMLResponse:
    """Back from the review to the form, with what was typed."""
    info = _community(request, staff).catalog()
    values = {name: form.get(name, "") for name in cf.SERVICE_FIELDS}
    return _service_form(request, staff, values, info, new=form.get("new") == "1",
                         version=form.get("version", ""))


@router.post("/catalog/services/review", name="admin.service_review")
def service_review(request: Request, staff: Configurer, form: FormValues) -> HTMLResponse:
    community = _community(request, staff)
    info = community.catalog()
    new = form.get("new") == "1"
    values = {name: form.get(name, "") for name in cf.SERVICE_FIELDS}
    built = _edited(request, staff, info, values, new)
    if built.catalog is None:
        return _service_form(request, staff, values, info, new=new, errors=built.errors,
                             problems=built.problems, version=form.get("version", ""))
    preview = community.set_catalog(built.catalog, dry_run=True)
    scale = admin_context(request).credit_asset(staff.community_id).scale
    prices = cf.price_changes(info, built.catalog, preview.updated, scale)
    return _service_review(request, values, preview, info.version, new=new, code=built.code,
                           prices=prices, replay=_replay(community, built.catalog))


@router.post("/catalog/services", name="admin.service_save")
def service_save(request: Request, staff: Configurer, form: FormValues) -> Response:
    community = _community(request, staff)
    info = community.catalog()
    new = form.get("new") == "1"
    values = {name: form.get(name, "") for name in cf.SERVICE_FIELDS}
    built = _edited(request, staff, info, values, new and str(info.version) == form.get(
        "version", ""))
    if built.catalog is None:
        return _service_form(request, staff, values, info, new=new, errors=built.errors,
                             problems=built.problems, version=form.get("version", ""))
    code, catalog_data = built.code, built.catalog
    preview = community.set_catalog(catalog_data, dry_run=True)
    if str(info.version) != form.get("version", ""):
        if not preview.changed:  # the catalog already is what this form asks: sent twice
            return redirect_to(request, "admin.catalog", notice="service_saved")
        return _service_review(request, values, preview, info.version, new=new, code=code,
                               status_code=409, refusal=MOVED.format(version=info.version))
    done = community.set_catalog(catalog_data, actor=staff_actor(staff))
    if done.changed:
        audit(request, staff, "catalog.service_saved", target=code,
              detail={"version": done.version, "added": code in done.added})
    return redirect_to(request, "admin.catalog", notice="service_saved")


@router.get("/catalog/services/{code}/retire", name="admin.service_retire_review")
def retire_review(request: Request, staff: Configurer, code: str) -> HTMLResponse:
    community = _community(request, staff)
    info = community.catalog()
    data = _without(info, code)
    preview = community.set_catalog(data, dry_run=True)
    return _retire_review(request, code, info, preview, replay=_replay(community, data))


@router.post("/catalog/services/{code}/retire", name="admin.service_retire")
def retire(request: Request, staff: Configurer, code: str, form: FormValues) -> Response:
    community = _community(request, staff)
    info = community.catalog()
    if not any(s.code == code for s in info.services):
        if any(s.code == code for s in community.catalog(include_retired=True).services):
            return redirect_to(request, "admin.catalog", notice="service_retired")  # twice
        raise NotFound(f"no service {code!r} in the catalog")
    data = _without(info, code)
    preview = community.set_catalog(data, dry_run=True)
    if str(info.version) != form.get("version", ""):
        return _retire_review(request, code, info, preview, status_code=409,
                              refusal=MOVED.format(version=info.version))
    done = community.set_catalog(data, actor=staff_actor(staff))
    audit(request, staff, "catalog.service_retired", target=code,
          detail={"version": done.version})
    return redirect_to(request, "admin.catalog", notice="service_retired")


# ---- helpers ----

def _community(request: Request, staff: StaffSession) -> Community:
    return admin_context(request).community(staff.community_id)


def _fmt(value: str) -> Any:
    return "yaml" if value == "yaml" else "toml"


def _problems(exc: InvalidRequest) -> list[str]:
    """Every problem of a refused catalog, one per line, as the service lists them."""
    found = exc.extra.get("errors")
    if isinstance(found, list) and found:
        return [_problem_text(e) for e in found]
    return [sentence(exc.detail)]


def _problem_text(error: object) -> str:
    if isinstance(error, dict):
        line = error.get("line") or 0
        place = f"Line {line}: " if line else ""
        where = f"{error.get('where')}: " if error.get("where") else ""
        return f"{place}{where}{error.get('reason', '')}"
    return str(error)


def _replay(community: Community, catalog: Catalog | None) -> CatalogPreview | None:
    """The last days of charges replayed through the reviewed catalog (decision 0065)."""
    if catalog is None:
        return None
    return community.preview_catalog(catalog, days=PREVIEW_DAYS)


def _replay_context(replay: CatalogPreview | None) -> dict[str, Any]:
    if replay is None:
        return {"replay": None, "replay_members": []}
    return {"replay": replay, "replay_members": replay.members[:PREVIEW_MEMBERS_SHOWN]}


def _load_detail(done: CatalogLoad) -> dict[str, Any]:
    return {"version": done.version, "services": done.services, "rewards": done.rewards,
            "added": done.added[:AUDIT_CODES_MAX], "updated": done.updated[:AUDIT_CODES_MAX],
            "retired": done.retired[:AUDIT_CODES_MAX],
            "changes": len(done.added) + len(done.updated) + len(done.retired)}


def _without(info: CatalogInfo, code: str) -> Catalog:
    data = cf.catalog_data(info)
    if data["services"].pop(code, None) is None:
        raise NotFound(f"no service {code!r} in the active catalog")
    catalog, errors = cf.build_catalog(data)
    if catalog is None:
        raise InvalidRequest("; ".join(str(e) for e in errors))
    return catalog


@dataclass(frozen=True, slots=True)
class _Edit:
    """The catalog with the edited service, or why there is none."""

    code: str
    catalog: Catalog | None
    errors: dict[str, str] = field(default_factory=dict)  # by form field
    problems: list[str] = field(default_factory=list)  # of the catalog as a whole


def _edited(request: Request, staff: StaffSession, info: CatalogInfo, values: dict[str, str],
            new: bool) -> _Edit:
    scale = admin_context(request).credit_asset(staff.community_id).scale
    data = cf.catalog_data(info)
    fields = Fields(values)
    code = fields.text("code", required=True, what="A code")
    old = data["services"].get(code)
    if new and (old is not None or code in data["rewards"]):
        fields.errors["code"] = "That code is in the catalog already: edit it instead."
    elif not new and old is None and code:
        fields.errors["code"] = "That service is not in the active catalog any more."
    entry = cf.read_entry(fields, scale, (old or {}).get("splits"))
    if not fields.ok:
        return _Edit(code, None, errors=fields.errors)
    data["services"][code] = entry
    catalog, errors = cf.build_catalog(data)
    if catalog is None:
        return _Edit(code, None, problems=[str(e).removeprefix("catalog: ") for e in errors])
    return _Edit(code, catalog)


def _load_form(request: Request, values: dict[str, str], errors: dict[str, str] | None = None,
               problems: list[str] | None = None) -> HTMLResponse:
    return render(request, "admin/catalog_load.html", {
        "values": values, "errors": errors or {}, "problems": problems or [],
        "formats": FORMATS,
    }, status_code=400 if errors or problems else 200, section="catalog")


def _load_review(request: Request, values: dict[str, str], preview: CatalogLoad, version: int,
                 *, status_code: int = 200, refusal: str = "",
                 prices: list[tuple[str, str, str]] | None = None,
                 replay: CatalogPreview | None = None) -> HTMLResponse:
    return render(request, "admin/catalog_review.html", {
        "kind": "load", "prices": prices or [], **_replay_context(replay),
        "values": values, "preview": preview, "version": version,
        "refusal": refusal, "title": "Check the new catalog",
        "action": "admin.catalog_load", "action_params": {},
        "confirm": "Make it the active catalog",
    }, status_code=status_code, section="catalog")


def _service_form(request: Request, staff: StaffSession, values: dict[str, str],
                  info: CatalogInfo, *, new: bool, errors: dict[str, str] | None = None,
                  problems: list[str] | None = None, version: str = "") -> HTMLResponse:
    old = cf.catalog_data(info)["services"].get(values.get("code", ""))
    return render(request, "admin/catalog_service.html", {
        "values": values, "errors": errors or {}, "problems": problems or [], "new": new,
        "version": version or str(info.version), "splits": (old or {}).get("splits", []),
        "asset": admin_context(request).credit_asset(staff.community_id),
        "price_kinds": cf.PRICE_KINDS, "access_levels": cf.ACCESS_LEVELS,
        "periods": cf.PERIODS, "after": cf.AFTER,
    }, status_code=400 if errors or problems else 200, section="catalog")


def _service_review(request: Request, values: dict[str, str], preview: CatalogLoad,
                    version: int, *, new: bool, code: str, status_code: int = 200,
                    refusal: str = "",
                    prices: list[tuple[str, str, str]] | None = None,
                    replay: CatalogPreview | None = None) -> HTMLResponse:
    return render(request, "admin/catalog_review.html", {
        "kind": "service", "prices": prices or [], **_replay_context(replay),
        "values": values, "preview": preview, "version": version,
        "refusal": refusal, "new": new, "code": code,
        "title": f"Check {'the new service' if new else 'the change to'} {code}",
        "action": "admin.service_save", "action_params": {},
        "confirm": "Save it in a new catalog version",
    }, status_code=status_code, section="catalog")


def _retire_review(request: Request, code: str, info: CatalogInfo, preview: CatalogLoad, *,
                   status_code: int = 200, refusal: str = "",
                   replay: CatalogPreview | None = None) -> HTMLResponse:
    return render(request, "admin/catalog_review.html", {
        "kind": "retire", "values": {}, **_replay_context(replay), "preview": preview,
        "version": info.version,
        "refusal": refusal, "code": code, "title": f"Retire {code}?",
        "action": "admin.service_retire", "action_params": {"code": code},
        "confirm": f"Retire {code}",
    }, status_code=status_code, section="catalog")
