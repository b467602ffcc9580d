"""Packs the unpacked solution into the zip Dataverse imports, and unpacks such a zip.

    unpacked (dynamics/solution/, SolutionPackager's layout)   packed (zip root)
    Other/Solution.xml, <Managed>2</Managed> ("both")          solution.xml, <Managed>0|1</Managed>
    Other/Customizations.xml, <WebResources />                 customizations.xml with each <WebResource>
    WebResources/<name>.data.xml + WebResources/<name>         the element + the file at its <FileName>
    every other folder (environmentvariabledefinitions/, msdyn_*/)  the same paths
    —                                                          [Content_Types].xml

`unpack(pack(files, m)) == files` for both kinds; `fill()` puts the build's URLs in first.
"""
from __future__ import annotations

import html
import io
import re
import zipfile
from urllib.parse import urlsplit

LANDING = "cifad_/adaptor/landing.html"  # the channel provider's landing page (a web resource)
TOKENS = ("__WIDGET_URL__", "__WIDGET_ORIGIN__", "__CHANNEL_URL__")
MANAGED = re.compile(rb"<Managed>([012])</Managed>")
WEB_RESOURCES_EMPTY = b"  <WebResources />\n"
WEB_RESOURCES_BLOCK = re.compile(rb"^  <WebResources>\n(.*?)^  </WebResources>\n", re.M | re.S)
WEB_RESOURCE = re.compile(rb"^    <WebResource>\n.*?^    </WebResource>\n", re.M | re.S)
DATA_HEAD = b'<?xml version="1.0" encoding="utf-8"?>\n<WebResource xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
FILE_NAME = re.compile(rb"<FileName>([^<]+)</FileName>")
CONTENT_TYPES = "[Content_Types].xml"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # reproducible zips


class PackError(ValueError):
    """Input that cannot become (or did not come from) a solution zip; says which and why."""


def https_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password or parts.fragment:
        raise PackError(f"{what} must be an https:// URL with a host, no user info and no #fragment: {value!r}")
    return value


def fill(files: dict[str, bytes], widget_url: str, org_url: str | None = None) -> dict[str, bytes]:
    """The sources with the build's values in place of the tokens: the widget's URL (in the
    landing page), its origin (the provider's trusted domain) and the channel URL (the
    landing page's path, absolute when `org_url` is given). Values are XML/HTML-escaped."""
    parts = urlsplit(https_url(widget_url, "--widget-url"))
    origin = f"https://{parts.netloc}"
    channel = f"/WebResources/{LANDING}"
    if org_url:
        channel = https_url(org_url, "--org-url").rstrip("/") + channel
    values = dict(zip(TOKENS, (widget_url, origin, channel), strict=True))
    out = {}
    for path, data in files.items():
        for token, value in values.items():
            data = data.replace(token.encode(), html.escape(value, quote=True).encode())
        out[path] = data
    return out


def _content_types(paths: list[str]) -> bytes:
    """Every part's type: application/octet-stream, as Dataverse exports write it."""
    extensions = sorted({p.rsplit(".", 1)[1].lower() for p in paths if "." in p.rsplit("/", 1)[-1]})
    overrides = [p for p in paths if "." not in p.rsplit("/", 1)[-1]]
    body = "".join(f'<Default Extension="{e}" ContentType="application/octet-stream" />' for e in extensions)
    body += "".join(f'<Override PartName="/{html.escape(p)}" ContentType="application/octet-stream" />' for p in overrides)
    return ('\ufeff<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org/package/'
            f'2006/content-types">{body}</Types>').encode()


def _zip(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in parts.items():
            zf.writestr(zipfile.ZipInfo(path, FIXED_TIME), data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def pack_parts(files: dict[str, bytes], managed: bool) -> dict[str, bytes]:
    """The zip's parts in order: solution.xml, customizations.xml, [Content_Types].xml, the rest."""
    solution = files.get("Other/Solution.xml", b"")
    if len(MANAGED.findall(solution)) != 1 or b"<Managed>2</Managed>" not in solution:
        raise PackError("Other/Solution.xml must hold one <Managed>2</Managed> (unpacked for both kinds)")
    customizations = files.get("Other/Customizations.xml", b"")
    if customizations.count(WEB_RESOURCES_EMPTY) != 1:
        raise PackError("Other/Customizations.xml must hold one '  <WebResources />' line")
    for path, data in files.items():
        for token in TOKENS:
            if token.encode() in data:
                raise PackError(f"{path} still holds {token}: fill() the sources first")

    elements, rest = [], {}
    for path in sorted(files):
        if path.startswith("Other/"):
            continue
        data = files[path]
        if path.startswith("WebResources/") and path.endswith(".data.xml"):
            if not data.startswith(DATA_HEAD):
                raise PackError(f"{path} must start with the XML declaration and <WebResource xmlns:xsi=…>")
            body = b"<WebResource>\n" + data[len(DATA_HEAD):]
            elements.append(b"".join(b"    " + line for line in body.splitlines(keepends=True)))
            found = FILE_NAME.search(data)
            content = path[: -len(".data.xml")]
            if not found or found.group(1).decode() != "/" + content or content not in files:
                raise PackError(f"{path}: <FileName> must be '/{content}', a file next to it")
        elif not (path.startswith("WebResources/") and path + ".data.xml" in files):
            rest[path] = data
    for path in sorted(files):  # web resource contents, at their <FileName>
        if path.startswith("WebResources/") and path + ".data.xml" in files:
            rest[path] = files[path]
    block = b"  <WebResources>\n" + b"".join(elements) + b"  </WebResources>\n" if elements else WEB_RESOURCES_EMPTY
    parts = {"solution.xml": MANAGED.sub(b"<Managed>1</Managed>" if managed else b"<Managed>0</Managed>", solution),
             "customizations.xml": customizations.replace(WEB_RESOURCES_EMPTY, block)}
    parts[CONTENT_TYPES] = _content_types([*parts, *rest])
    parts.update(sorted(rest.items()))
    return parts


def pack(files: dict[str, bytes], managed: bool) -> bytes:
    """An importable solution zip (unmanaged or managed) from filled sources."""
    return _zip(pack_parts(files, managed))


def unpack(archive: bytes) -> dict[str, bytes]:
    """The unpacked sources of a zip made by pack(); PackError when it is not one."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            parts = {name: zf.read(name) for name in zf.namelist()}
    except zipfile.BadZipFile as exc:
        raise PackError(f"not a zip file: {exc}") from None
    for required in ("solution.xml", "customizations.xml", CONTENT_TYPES):
        if required not in parts:
            raise PackError(f"the zip has no {required} at its root")
    solution = parts.pop("solution.xml")
    if len(MANAGED.findall(solution)) != 1:
        raise PackError("solution.xml must hold one <Managed>0|1</Managed>")
    files = {"Other/Solution.xml": MANAGED.sub(b"<Managed>2</Managed>", solution)}
    customizations = parts.pop("customizations.xml")
    parts.pop(CONTENT_TYPES)
    block = WEB_RESOURCES_BLOCK.search(customizations)
    if block:
        for element in WEB_RESOURCE.findall(block.group(1)):
            lines = [line[4:] for line in element.splitlines(keepends=True)]
            name = re.search(rb"<Name>([^<]+)</Name>", element)
            file_name = FILE_NAME.search(element)
            if not name or not file_name or file_name.group(1).decode().lstrip("/") not in parts:
                raise PackError("a <WebResource> without <Name>, or whose <FileName> is not in the zip")
            files[f"WebResources/{name.group(1).decode()}.data.xml"] = DATA_HEAD + b"".join(lines[1:])
            files[f"WebResources/{name.group(1).decode()}"] = parts.pop(file_name.group(1).decode().lstrip("/"))
        customizations = customizations[:block.start()] + WEB_RESOURCES_EMPTY + customizations[block.end():]
    files["Other/Customizations.xml"] = customizations
    files.update(parts)
    return dict(sorted(files.items()))
