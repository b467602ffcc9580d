"""The Dataverse solution (tools/solution, dynamics/solution/): the CLI writes both zips;
their parts sit at the zip root as Dataverse import expects; every XML part is
well-formed and uses only element names found in solutions exported from Dataverse;
unpack → pack gives the same content; nothing of a real org or tenant is in it."""
from __future__ import annotations

import io
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from tools.solution import SOURCE_DIR, read_sources
from tools.solution.components import SolutionError, load, problems
from tools.solution.packager import PackError, fill, pack, pack_parts, unpack

ROOT = Path(__file__).resolve().parent.parent
WIDGET = "https://example.test/widget/"

# Child elements per component, as they appear in the CIF 2.0 sample's solution exported
# from Dataverse (DCCPChannelIntegrationFramework 1.0.0.6), plus msdyn_trusteddomain, the
# channel provider attribute CIF's client library reads (the sample left it empty, and an
# export leaves out empty attributes).
EXPORTED = {
    "msdyn_channelprovider": {"iscustomizable", "msdyn_apiversion", "msdyn_channelurl", "msdyn_enableanalytics",
                              "msdyn_enableoutbound", "msdyn_label", "msdyn_name", "msdyn_sortorder", "statecode",
                              "statuscode", "msdyn_trusteddomain"},
    "msdyn_notificationtemplate": {"iscustomizable", "msdyn_acceptbuttontext", "msdyn_autoacceptnotification",
                                   "msdyn_desktopnotificationmode", "msdyn_icon", "msdyn_name", "msdyn_rejectbuttontext",
                                   "msdyn_showrejectbutton", "msdyn_showtimeout", "msdyn_theme", "msdyn_timeout",
                                   "msdyn_title", "statecode", "statuscode"},
    "msdyn_notificationfield": {"iscustomizable", "msdyn_name", "msdyn_title", "msdyn_value", "statecode", "statuscode"},
    "msdyn_sessiontemplate": {"iscustomizable", "msdyn_anchortab", "msdyn_description", "msdyn_enablebuildexpression",
                              "msdyn_expressiondata", "msdyn_name", "msdyn_panelstate", "msdyn_sessiontype",
                              "msdyn_title", "msdyn_type", "statecode", "statuscode"},
    "msdyn_applicationtabtemplate": {"iscustomizable", "msdyn_name", "msdyn_pagetype", "msdyn_pinned",
                                     "msdyn_templateparameters", "msdyn_title", "statecode", "statuscode"},
    "msdyn_templateparameter": {"iscustomizable", "msdyn_applicationtabtemplateid", "msdyn_name", "msdyn_value",
                                "statecode", "statuscode"},
    "environmentvariabledefinition": {"defaultvalue", "description", "displayname", "introducedversion",
                                      "iscustomizable", "isrequired", "secretstore", "type"},
    "WebResource": {"WebResourceId", "Name", "DisplayName", "WebResourceType", "IntroducedVersion",
                    "IsEnabledForMobileClient", "IsAvailableForMobileOffline", "DependencyXml", "IsCustomizable",
                    "CanBeDeleted", "IsHidden", "FileName"},
    "ImportExportXml": {"SolutionManifest", "Entities", "Roles", "Workflows", "FieldSecurityProfiles", "Templates",
                        "EntityMaps", "EntityRelationships", "OrganizationSettings", "optionsets", "WebResources",
                        "CustomControls", "EntityDataProviders", "CanvasApps",
                        "msdyn_notificationtemplate_notificationfieldset", "msdyn_sessiontemplate_applicationtabset",
                        "Languages"},
    "SolutionManifest": {"UniqueName", "LocalizedNames", "Descriptions", "Version", "Managed", "Publisher",
                         "RootComponents", "MissingDependencies"},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("solution")
    run = subprocess.run([sys.executable, "-m", "tools.solution", "--widget-url", WIDGET, "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return out


def zip_parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_cli_writes_unmanaged_and_managed_zips_and_the_filled_sources(built):
    assert sorted(p.name for p in built.glob("*.zip")) == ["CifNotificationAdaptor_1_0_0_0.zip",
                                                           "CifNotificationAdaptor_1_0_0_0_managed.zip"]
    assert (built / "src/Other/Solution.xml").exists()
    provider = (built / "src/msdyn_channelproviders/cifad_notification_adaptor/msdyn_channelprovider.xml").read_text()
    assert "<msdyn_trusteddomain>https://example.test</msdyn_trusteddomain>" in provider
    assert "<msdyn_channelurl>/WebResources/cifad_/adaptor/landing.html</msdyn_channelurl>" in provider
    landing = (built / "src/WebResources/cifad_/adaptor/landing.html").read_text()
    assert '<meta name="cifad-widget-url" content="https://example.test/widget/">' in landing


@pytest.mark.parametrize("name, managed", [("CifNotificationAdaptor_1_0_0_0.zip", "0"),
                                           ("CifNotificationAdaptor_1_0_0_0_managed.zip", "1")])
def test_zip_parts_sit_at_the_root_and_differ_only_in_the_managed_flag(built, name, managed):
    parts = zip_parts(built / name)
    assert list(parts)[:3] == ["solution.xml", "customizations.xml", "[Content_Types].xml"]
    solution = ET.fromstring(parts["solution.xml"])
    assert solution.findtext("SolutionManifest/Managed") == managed
    other = zip_parts(built / "CifNotificationAdaptor_1_0_0_0.zip")
    assert {k: v for k, v in parts.items() if k != "solution.xml"} == \
           {k: v for k, v in other.items() if k != "solution.xml"}
    assert parts["solution.xml"].replace(f"<Managed>{managed}</Managed>".encode(), b"<Managed>0</Managed>") == \
           other["solution.xml"]


def test_content_types_cover_every_part(built):
    parts = zip_parts(built / "CifNotificationAdaptor_1_0_0_0.zip")
    types = ET.fromstring(parts["[Content_Types].xml"].decode("utf-8-sig"))
    ns = "{http://schemas.openxmlformats.org/package/2006/content-types}"
    defaults = {d.get("Extension") for d in types.iter(ns + "Default")}
    overrides = {o.get("PartName") for o in types.iter(ns + "Override")}
    for part in parts:
        if part != "[Content_Types].xml":
            leaf = part.rsplit("/", 1)[-1]
            assert ("." in leaf and leaf.rsplit(".", 1)[1] in defaults) or "/" + part in overrides, part


def test_customizations_carry_the_web_resources_with_their_files(built):
    parts = zip_parts(built / "CifNotificationAdaptor_1_0_0_0.zip")
    customizations = ET.fromstring(parts["customizations.xml"])
    resources = customizations.findall("WebResources/WebResource")
    assert {r.findtext("Name") for r in resources} == {"cifad_/adaptor/landing.html", "cifad_/adaptor/landing.js"}
    for r in resources:
        assert r.findtext("FileName").lstrip("/") in parts
        assert r.findtext("WebResourceType") == {"html": "1", "js": "3"}[r.findtext("Name").rsplit(".", 1)[1]]


def test_every_xml_part_is_well_formed_with_exported_element_names(built):
    parts = zip_parts(built / "CifNotificationAdaptor_1_0_0_0.zip")
    sources = read_sources(built / "src")
    xml_files = {**{k: v for k, v in parts.items() if k.endswith(".xml") and k != "[Content_Types].xml"},
                 **{k: v for k, v in sources.items() if k.endswith(".xml")}}
    assert len(xml_files) > 30
    for path, data in xml_files.items():
        root = ET.fromstring(data)  # raises on anything not well-formed
        elements = [root] + [c for c in root.iter() if c.tag in EXPORTED and c is not root]
        for el in elements:
            if el.tag in EXPORTED:
                unknown = {c.tag for c in el} - EXPORTED[el.tag]
                assert not unknown, f"{path}: <{el.tag}> has {unknown}, not seen in exported solutions"


@pytest.mark.parametrize("managed", [False, True])
def test_unpack_then_pack_round_trips(managed):
    files = fill(read_sources(), WIDGET)
    archive = pack(files, managed)
    assert unpack(archive) == files
    assert pack(unpack(archive), managed) == archive  # byte for byte


def test_nothing_of_a_real_org_or_tenant_and_only_our_prefix():
    text = b"".join(read_sources().values()).decode()
    assert not re.search(r"crm\d*\.dynamics\.com|login\.microsoftonline\.com/[0-9a-f]{8}-", text)
    assert "extn_voice" not in text and "extnbr_" not in text and "DefaultPublisher" not in text
    solution = load(fill(read_sources(), WIDGET))
    assert solution.prefix == "cifad" and problems(solution) == []
    assert all(v.default is None and v.required for v in solution.variables.values())
    assert set(solution.variables) == {"cifad_AdaptorFunctionUrl", "cifad_ClientId", "cifad_Authority", "cifad_Scope"}


def test_components_read_back():
    solution = load(fill(read_sources(), WIDGET))
    assert solution.provider.label == "Phone calls" and solution.provider.trusted_domain == "https://example.test"
    note = solution.notifications["cifad_voice_notification"]
    assert [(f.title, f.value) for f in note.fields] == [("Phone", "{extn_phonenumber}"), ("Comment", "{extn_comment}")]
    assert solution.sessions["cifad_voice_identified_session"].tabs == ("cifad_case_tab", "cifad_customer_tab")
    assert solution.sessions["cifad_voice_unknown_session"].tabs == ("cifad_search_tab",)


@pytest.mark.parametrize("url", ["http://example.test/widget/", "https://", "https://u:p@example.test/",
                                 "https://example.test/#x", "example.test/widget"])
def test_widget_url_must_be_https(url):
    with pytest.raises(PackError, match="--widget-url must be an https:// URL"):
        fill(read_sources(), url)


def test_widget_url_is_escaped_into_xml_and_html():
    files = fill(read_sources(), 'https://example.test/w/?a=1&b="2"')
    assert b'content="https://example.test/w/?a=1&amp;b=&quot;2&quot;"' in files["WebResources/cifad_/adaptor/landing.html"]
    load(files)  # still well-formed


def test_pack_refuses_unfilled_sources():
    with pytest.raises(PackError, match="still holds __"):
        pack_parts(read_sources(), managed=False)


def test_cli_reports_bad_input_with_exit_status_2(tmp_path):
    run = subprocess.run([sys.executable, "-m", "tools.solution", "--widget-url", "http://x/", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "--widget-url must be an https:// URL" in run.stderr


def test_inconsistent_sources_are_named():
    files = fill(read_sources(), WIDGET)
    broken = dict(files)
    broken["msdyn_templateparameters/cifad_case_tab_entityName/msdyn_templateparameter.xml"] = broken[
        "msdyn_templateparameters/cifad_case_tab_entityName/msdyn_templateparameter.xml"].replace(b"incident", b"contact")
    with pytest.raises(SolutionError, match="cifad_case_tab.*disagrees with its msdyn_templateparameter records"):
        load(broken)
    broken = dict(files)
    broken["Other/Customizations.xml"] = broken["Other/Customizations.xml"].replace(b"cifad_customer_tab", b"cifad_nope")
    with pytest.raises(SolutionError, match=r"opens unknown application tab templates \['cifad_nope'\]"):
        load(broken)
    with pytest.raises(PackError, match="no solution.xml"):
        unpack(_zip({"customizations.xml": b"", "[Content_Types].xml": b""}))


def _zip(parts):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in parts.items():
            zf.writestr(k, v)
    return buf.getvalue()


def test_sources_live_in_solutionpackager_folders():
    top = {p.split("/")[0] for p in read_sources()}
    assert top == {"Other", "WebResources", "environmentvariabledefinitions", "msdyn_applicationtabtemplates",
                   "msdyn_channelproviders", "msdyn_notificationfields", "msdyn_notificationtemplates",
                   "msdyn_sessiontemplates", "msdyn_templateparameters"}
    assert SOURCE_DIR == ROOT / "dynamics" / "solution"
