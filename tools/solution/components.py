"""Reads the solution's components from its unpacked files: the channel provider, the
environment variable definitions, the notification, session and application tab
templates (what the local CIF host renders), and checks they agree with each other.

Element names are those of solutions exported from Dataverse (see
docs/dynamics-solution.md); `files` is {posix path: bytes} as from `read_sources()`."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal, overload

PREFIX = "cifad"  # our publisher's customization prefix
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")  # CIF's {parameter} slugs
LANGUAGE = "1033"

# msdyn_applicationtabtemplate.msdyn_pagetype values used here (as in exported solutions)
PAGE_ENTITY_RECORD = 509180001
PAGE_SEARCH = 509180005


class SolutionError(ValueError):
    """A source file that is missing, not well-formed XML, or inconsistent."""


@dataclass(frozen=True)
class EnvironmentVariable:
    schema_name: str
    display_name: str
    default: str | None
    required: bool


@dataclass(frozen=True)
class ChannelProvider:
    name: str
    label: str
    channel_url: str
    trusted_domain: str | None
    api_version: int
    sort_order: int


@dataclass(frozen=True)
class NotificationField:
    name: str
    title: str
    value: str


@dataclass(frozen=True)
class NotificationTemplate:
    name: str
    title: str
    timeout: int  # seconds
    show_timeout: bool
    show_reject: bool
    auto_accept: bool
    accept_text: str
    reject_text: str
    fields: tuple[NotificationField, ...]


@dataclass(frozen=True)
class TabTemplate:
    name: str
    title: str | None
    page_type: int
    parameters: dict[str, str | None]


@dataclass(frozen=True)
class SessionTemplate:
    name: str
    title: str
    tabs: tuple[str, ...]  # the anchor tab first


@dataclass(frozen=True)
class Solution:
    unique_name: str
    version: str
    prefix: str
    root_components: tuple[tuple[int, str], ...]  # (type, schemaName)
    provider: ChannelProvider
    variables: dict[str, EnvironmentVariable]
    notifications: dict[str, NotificationTemplate]
    sessions: dict[str, SessionTemplate]
    tabs: dict[str, TabTemplate]
    web_resources: dict[str, str] = field(default_factory=dict)  # Name → source path of its content


def placeholders(text: str | None) -> set[str]:
    return set(PLACEHOLDER.findall(text or ""))


def _xml(files: dict[str, bytes], path: str) -> ET.Element:
    if path not in files:
        raise SolutionError(f"{path} is missing")
    try:
        return ET.fromstring(files[path])
    except ET.ParseError as exc:
        raise SolutionError(f"{path} is not well-formed XML: {exc}") from None


@overload
def _text(el: ET.Element, tag: str, path: str, required: Literal[True] = True) -> str: ...
@overload
def _text(el: ET.Element, tag: str, path: str, required: bool) -> str | None: ...
def _text(el: ET.Element, tag: str, path: str, required: bool = True) -> str | None:
    child = el.find(tag)
    if child is None or child.text is None:
        if required:
            raise SolutionError(f"{path}: <{tag}> is missing")
        return None
    return child.text


@overload
def _label(el: ET.Element, tag: str, path: str, required: Literal[True] = True) -> str: ...
@overload
def _label(el: ET.Element, tag: str, path: str, required: bool) -> str | None: ...
def _label(el: ET.Element, tag: str, path: str, required: bool = True) -> str | None:
    """A localized attribute: <tag default="X"><label description="X" languagecode="1033"/></tag>."""
    child = el.find(tag)
    if child is None:
        if required:
            raise SolutionError(f"{path}: <{tag}> is missing")
        return None
    label = next((lb for lb in child.findall("label") if lb.get("languagecode") == LANGUAGE), None)
    if label is None or label.get("description") != child.get("default"):
        raise SolutionError(f"{path}: <{tag}> needs a languagecode {LANGUAGE} label equal to its default")
    return child.get("default")


def _unique(el: ET.Element, path: str, folder: str) -> str:
    name = el.get("msdyn_uniquename") or el.get("schemaname")
    if name != folder:
        raise SolutionError(f"{path}: its unique name {name!r} must be its folder's name {folder!r}")
    return name


def _records(files: dict[str, bytes], folder: str, file: str):
    """(unique name, element, path) of each <folder>/<name>/<file>."""
    for path in sorted(files):
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == folder and parts[2] == file:
            el = _xml(files, path)
            yield _unique(el, path, parts[1]), el, path


def _associations(customizations: ET.Element, set_tag: str, left: str, right: str) -> list[tuple[str, str]]:
    box = customizations.find(set_tag)
    return [] if box is None else [(a.get(f"{left}.msdyn_uniquename") or "", a.get(f"{right}.msdyn_uniquename") or "")
                                   for a in box]


def load(files: dict[str, bytes]) -> Solution:
    """The solution's components; SolutionError names the file and rule that fails."""
    manifest = _xml(files, "Other/Solution.xml").find("SolutionManifest")
    if manifest is None:
        raise SolutionError("Other/Solution.xml: <SolutionManifest> is missing")
    prefix = _text(manifest, "Publisher/CustomizationPrefix", "Other/Solution.xml")
    roots = tuple((int(r.get("type") or ""), r.get("schemaName") or "")
                  for r in manifest.iterfind("RootComponents/RootComponent"))
    customizations = _xml(files, "Other/Customizations.xml")

    variables = {}
    for name, el, path in _records(files, "environmentvariabledefinitions", "environmentvariabledefinition.xml"):
        variables[name] = EnvironmentVariable(name, _label(el, "displayname", path), _text(el, "defaultvalue", path, False),
                                              _text(el, "isrequired", path) == "1")

    providers = list(_records(files, "msdyn_channelproviders", "msdyn_channelprovider.xml"))
    if len(providers) != 1:
        raise SolutionError(f"the solution must carry exactly one channel provider, not {len(providers)}")
    name, el, path = providers[0]
    provider = ChannelProvider(name, _label(el, "msdyn_label", path), _text(el, "msdyn_channelurl", path),
                               _text(el, "msdyn_trusteddomain", path, False), int(_text(el, "msdyn_apiversion", path)),
                               int(_text(el, "msdyn_sortorder", path)))

    fields = {name: NotificationField(name, _label(el, "msdyn_title", path), _label(el, "msdyn_value", path))
              for name, el, path in _records(files, "msdyn_notificationfields", "msdyn_notificationfield.xml")}
    links = _associations(customizations, "msdyn_notificationtemplate_notificationfieldset",
                          "msdyn_notificationtemplateid", "msdyn_notificationfieldid")
    notifications = {}
    for name, el, path in _records(files, "msdyn_notificationtemplates", "msdyn_notificationtemplate.xml"):
        own = [f for t, f in links if t == name]
        unknown = [f for f in own if f not in fields]
        if unknown:
            raise SolutionError(f"notification template {name} links to unknown fields {unknown}")
        notifications[name] = NotificationTemplate(
            name, _label(el, "msdyn_title", path), int(_text(el, "msdyn_timeout", path)),
            _text(el, "msdyn_showtimeout", path) == "1", _text(el, "msdyn_showrejectbutton", path) == "1",
            _text(el, "msdyn_autoacceptnotification", path) == "1", _label(el, "msdyn_acceptbuttontext", path),
            _label(el, "msdyn_rejectbuttontext", path), tuple(fields[f] for f in own))

    records: dict[str, dict[str, str | None]] = {}
    for name, el, path in _records(files, "msdyn_templateparameters", "msdyn_templateparameter.xml"):
        tab = _text(el, "msdyn_applicationtabtemplateid/msdyn_uniquename", path)
        records.setdefault(tab, {})[_label(el, "msdyn_name", path)] = _text(el, "msdyn_value", path, False)
        if name != f"{tab}_{_label(el, 'msdyn_name', path)}":
            raise SolutionError(f"{path}: a template parameter's unique name is <tab>_<parameter name>")
    tabs = {}
    for name, el, path in _records(files, "msdyn_applicationtabtemplates", "msdyn_applicationtabtemplate.xml"):
        try:
            declared = json.loads(_text(el, "msdyn_templateparameters", path))
            parameters = {k: v["value"] for k, v in declared.items()}
        except (ValueError, TypeError, KeyError):
            raise SolutionError(f"{path}: msdyn_templateparameters must be JSON {{name: {{value}}}}") from None
        if parameters != records.get(name, {}):
            raise SolutionError(f"{path}: msdyn_templateparameters disagrees with its msdyn_templateparameter records")
        tabs[name] = TabTemplate(name, _label(el, "msdyn_title", path, False), int(_text(el, "msdyn_pagetype", path)),
                                 parameters)
    orphans = set(records) - set(tabs)
    if orphans:
        raise SolutionError(f"template parameters of unknown application tab templates {sorted(orphans)}")

    extra = _associations(customizations, "msdyn_sessiontemplate_applicationtabset",
                          "msdyn_sessiontemplateid", "msdyn_applicationtabtemplateid")
    sessions = {}
    for name, el, path in _records(files, "msdyn_sessiontemplates", "msdyn_sessiontemplate.xml"):
        order = (_text(el, "msdyn_anchortab/msdyn_uniquename", path), *[t for s, t in extra if s == name])
        unknown = [t for t in order if t not in tabs]
        if unknown:
            raise SolutionError(f"session template {name} opens unknown application tab templates {unknown}")
        sessions[name] = SessionTemplate(name, _label(el, "msdyn_title", path), order)

    web_resources = {}
    for path in sorted(files):
        if path.startswith("WebResources/") and path.endswith(".data.xml"):
            resource = _xml(files, path)
            content = path[: -len(".data.xml")]
            if resource.findtext("Name") != content[len("WebResources/"):] or content not in files:
                raise SolutionError(f"{path}: <Name> must be the path of its content file under WebResources/")
            web_resources[content[len("WebResources/"):]] = content

    return Solution(_text(manifest, "UniqueName", "Other/Solution.xml"), _text(manifest, "Version", "Other/Solution.xml"),
                    prefix, roots, provider, variables, notifications, sessions, tabs, web_resources)


def problems(solution: Solution) -> list[str]:
    """Rules across components: our prefix on every name, root components matching the
    web resources and environment variables, session tabs that exist."""
    found = []
    names = [solution.provider.name, *solution.variables, *solution.notifications, *solution.sessions, *solution.tabs,
             *solution.web_resources]
    found += [f"{n} does not carry the publisher prefix {solution.prefix}_" for n in names
              if not n.startswith(solution.prefix + "_")]
    expected = {(61, n) for n in solution.web_resources} | {(380, n) for n in solution.variables}
    if set(solution.root_components) != expected:
        found.append(f"RootComponents {sorted(solution.root_components)} should be {sorted(expected)}")
    return found


def template_placeholders(solution: Solution) -> dict[str, set[str]]:
    """{template unique name: the {placeholders} it needs from templateParameters}."""
    out = {}
    for n in solution.notifications.values():
        out[n.name] = placeholders(n.title).union(*(placeholders(f.title) | placeholders(f.value) for f in n.fields))
    for t in solution.tabs.values():
        out[t.name] = placeholders(t.title).union(*(placeholders(v) for v in t.parameters.values()))
    for s in solution.sessions.values():
        out[s.name] = placeholders(s.title).union(*(out[t] for t in s.tabs))
    return out


def host_templates(solution: Solution) -> dict:
    """The templates as the local CIF host (host.js) renders them."""
    return {
        "notificationTemplates": {n.name: {
            "title": n.title, "timeout": n.timeout, "showTimeout": n.show_timeout, "showReject": n.show_reject,
            "autoAccept": n.auto_accept, "acceptText": n.accept_text, "rejectText": n.reject_text,
            "fields": [{"name": f.name, "title": f.title, "value": f.value} for f in n.fields]}
            for n in solution.notifications.values()},
        "sessionTemplates": {s.name: {"title": s.title, "tabs": list(s.tabs)} for s in solution.sessions.values()},
        "tabTemplates": {t.name: {"title": t.title, "pageType": t.page_type, "parameters": t.parameters}
                         for t in solution.tabs.values()},
    }
