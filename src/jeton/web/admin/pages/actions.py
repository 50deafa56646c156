"""Owner actions, each with a review step (`admin/actions.py` describes them):

    GET  /actions/{key}?member=ID&target=ID   the form (with a new idempotency key)
    POST /actions/{key}/review                 checks the fields, shows what will change
    POST /actions/{key}/edit                   back from the review, with what was typed
    POST /actions/{key}                        does it, audits it, back to the member or settings

The member and target travel in hidden fields; the staff user's permission is checked on every
step (a 403 page otherwise) and again by the services that take a staff actor. A refusal by
the service is shown on the review as it is, and nothing changes.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from jeton.core.errors import JetonError, NotFound
from jeton.services.access.audit import recorded_with_key
from jeton.web.admin import member_actions, settings_actions
from jeton.web.admin.actions import Action, Plan, Scope
from jeton.web.admin.context import admin_context
from jeton.web.admin.forms import Fields, FormValues, audit, error_message, form_key, redirect_to
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import CurrentStaff
from jeton.web.admin.templating import render
from jeton.web.security import Forbidden, PageNotFound

router = page_router()

ACTIONS: dict[str, Action] = {a.key: a for a in (*member_actions.ACTIONS,
                                                 *settings_actions.ACTIONS)}
_CARRIED = ("member", "target", "key")


def _action(key: str) -> Action:
    action = ACTIONS.get(key)
    if action is None:
        raise PageNotFound("There is no such action.")
    return action


def _scope(request: Request, staff: CurrentStaff, action: Action, member_id: str,
           target: str) -> Scope:
    if not staff.can(action.permission):
        raise Forbidden("Your role cannot do this: ask an owner.")
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    community = ctx.community(staff.community_id, asset)
    member = None
    if action.member:
        if not member_id:
            raise PageNotFound("No member was named.")
        member = community.get_member(member_id)
    if action.target_label and not target:
        raise PageNotFound(f"No {action.target_label} was named.")
    return Scope(ctx=ctx, staff=staff, community=community, asset=asset, member=member,
                 target=target)


def _values(action: Action, scope: Scope, posted: dict[str, str]) -> dict[str, str]:
    names = [i.name for i in action.inputs(scope)]
    return {name: posted.get(name, "") for name in (*names, *_CARRIED)}


def _form(request: Request, action: Action, scope: Scope, values: dict[str, str],
          errors: dict[str, str] | None = None) -> HTMLResponse:
    return render(request, "admin/action_form.html", {
        **_common(action, scope), "values": values, "errors": errors or {},
    }, status_code=400 if errors else 200, section=_section(action))


def _review(request: Request, action: Action, scope: Scope, values: dict[str, str],
            plan: Plan, *, refusal: str = "", status_code: int = 200) -> HTMLResponse:
    return render(request, "admin/action_review.html", {
        **_common(action, scope), "values": values, "plan": plan,
        "refusal": refusal or plan.refusal,
    }, status_code=status_code, section=_section(action))


def _common(action: Action, scope: Scope) -> dict[str, Any]:
    return {"action": action, "inputs": action.inputs(scope), "member": scope.member,
            "asset": scope.asset, "lede": action.lede(scope)}


def _section(action: Action) -> str:
    return "members" if action.member else "settings"


def _plan(action: Action, scope: Scope, values: dict[str, str]) -> tuple[Plan | None, Fields]:
    fields = Fields(values)
    if not fields.values.get("key"):
        fields.errors["key"] = "The form was incomplete; reload it and try again."
        return None, fields
    return action.plan(scope, fields), fields


@router.get("/actions/{key}", name="admin.action")
def action_form(request: Request, staff: CurrentStaff, key: str, member: str = "",
                target: str = "") -> HTMLResponse:
    action = _action(key)
    scope = _scope(request, staff, action, member, target)
    values = {**action.initial(scope), "member": member, "target": target, "key": form_key()}
    return _form(request, action, scope, values)


@router.post("/actions/{key}/edit", name="admin.action_edit")
def action_edit(request: Request, staff: CurrentStaff, key: str,
                form: FormValues) -> HTMLResponse:
    action = _action(key)
    scope = _scope(request, staff, action, form.get("member", ""), form.get("target", ""))
    return _form(request, action, scope, _values(action, scope, form))


@router.post("/actions/{key}/review", name="admin.action_review")
def action_review(request: Request, staff: CurrentStaff, key: str,
                  form: FormValues) -> HTMLResponse:
    action = _action(key)
    scope = _scope(request, staff, action, form.get("member", ""), form.get("target", ""))
    values = _values(action, scope, form)
    plan, fields = _plan(action, scope, values)
    if plan is None:
        return _form(request, action, scope, values, fields.errors)
    return _review(request, action, scope, values, plan)


@router.post("/actions/{key}", name="admin.action_post")
def action_post(request: Request, staff: CurrentStaff, key: str, form: FormValues) -> Response:
    action = _action(key)
    scope = _scope(request, staff, action, form.get("member", ""), form.get("target", ""))
    values = _values(action, scope, form)
    plan, fields = _plan(action, scope, values)
    if plan is None:
        return _form(request, action, scope, values, fields.errors)
    if plan.refusal:
        if recorded_with_key(admin_context(request).store, staff.community_id,
                             plan.audit.action, plan.audit.target, values["key"]):
            return _done(request, scope, plan)  # a second confirm: the first one did it
        return _review(request, action, scope, values, plan, status_code=409)
    try:
        changed = plan.apply()
    except NotFound as exc:
        return _review(request, action, scope, values, plan, status_code=404,
                       refusal="Nothing was changed. " + error_message(exc))
    except JetonError as exc:
        return _review(request, action, scope, values, plan, status_code=400,
                       refusal="Nothing was changed. " + error_message(exc))
    if changed:
        audit(request, staff, plan.audit.action, target=plan.audit.target,
              detail={**plan.audit.detail, "form_key": values["key"]})
    return _done(request, scope, plan)


def _done(request: Request, scope: Scope, plan: Plan) -> Response:
    if scope.member is not None:
        return redirect_to(request, "admin.member", notice=plan.notice,
                           member_id=scope.member.id)
    return redirect_to(request, "admin.settings", notice=plan.notice)
