"""The HTTP API through the official Ditto Python client: policies and their sub-resources (imports
and the token-integration actions included), things and theirs, `fields`, `condition`, conditional
headers (304, 412) on one keep-alive connection, path segments the client percent-encodes, messages
and claims, `channel=live` and the smart live channel, search and count, and the utility routes.
Env: BASE (the gateway), THING, POLICY. A device answering messages and live commands (with "from-device") is
connected by the test."""

import asyncio

from ditto_client.generated.models.attributes import Attributes
from ditto_client.generated.models.feature import Feature
from ditto_client.generated.models.feature_properties import FeatureProperties
from ditto_client.generated.models.features import Features
from ditto_client.generated.models.new_policy import NewPolicy
from ditto_client.generated.models.new_thing import NewThing
from ditto_client.generated.models.patch_thing import PatchThing
from ditto_client.generated.models.permission import Permission
from ditto_client.generated.models.permission_check_request import PermissionCheckRequest
from ditto_client.generated.models.policy_entries import PolicyEntries
from ditto_client.generated.models.policy_entry import PolicyEntry
from ditto_client.generated.models.policy_import import PolicyImport
from ditto_client.generated.models.resource_entry import ResourceEntry
from ditto_client.generated.models.resources import Resources
from ditto_client.generated.models.subject_entry import SubjectEntry
from ditto_client.generated.models.subjects import Subjects
from ditto_client.generated.api.two.things.item.attributes.item.with_attribute_path_put_request_body import (
    WithAttributePathPutRequestBody,
)
from ditto_client.generated.api.two.things.item.features.item.properties.item.with_property_path_put_request_body import (
    WithPropertyPathPutRequestBody,
)
from ditto_client.generated.api.two.things.item.attributes.item.get_channel_query_parameter_type import (
    GetChannelQueryParameterType,
)
from ditto_client.generated.api.two.things.item.attributes.item.get_live_channel_timeout_strategy_query_parameter_type import (
    GetLiveChannelTimeoutStrategyQueryParameterType,
)

from ditto_client.generated.api.two.policies.item.actions.activate_token_integration.activate_token_integration_post_request_body import (
    ActivateTokenIntegrationPostRequestBody,
)

from lib import client, config, env, step

ALL = [Permission.READ, Permission.WRITE]


def entry(subjects, resources):
    return PolicyEntry(
        subjects=Subjects(additional_data={s: SubjectEntry(type="test") for s in subjects}),
        resources=Resources(
            additional_data={r: ResourceEntry(grant=g, revoke=[]) for r, g in resources.items()}
        ),
    )


async def main():
    base, thing, policy = env("BASE"), env("THING"), env("POLICY")
    ditto, wire = client(base, "ditto", "ditto")
    carol, carol_wire = client(base, "carol", "carol-pw")
    api = ditto.api.two

    # Utility routes.
    await step("whoami", wire, 200, api.whoami.get(),
               {"defaultSubject": "nginx:ditto", "subjects": ["nginx:ditto"]})

    # Policies and their sub-resources.
    p = api.policies.by_policy_id(policy)
    owner = entry(["nginx:ditto"], {"thing:/": ALL, "policy:/": ALL, "message:/": ALL})
    await step("putPolicy", wire, 201, p.put(NewPolicy(entries=PolicyEntries(additional_data={"owner": owner}))))
    await step("getPolicy", wire, 200, p.get())
    await step("getPolicyFields", wire, 200, p.get(config(p, "get", fields="policyId")),
               {"policyId": policy})
    await step("getEntries", wire, 200, p.entries.get())
    e = p.entries.by_label("owner")
    await step("getEntry", wire, 200, e.get())
    await step("getSubjects", wire, 200, e.subjects.get(),
               {"nginx:ditto": {"type": "test"}})
    ops = p.entries.by_label("ops")
    await step("putEntry", wire, 201, ops.put(entry(["nginx:bob"], {"thing:/attributes": [Permission.READ]})))
    await step("putSubject", wire, 201, ops.subjects.by_subject_id("nginx:carol").put(SubjectEntry(type="test")))
    await step("getSubject", wire, 200, ops.subjects.by_subject_id("nginx:carol").get(), {"type": "test"})
    # The client encodes the `/` of the resource key as %2F: the grant must land on thing:/features.
    res = ops.resources.by_resource_path("thing:/features")
    await step("putResource", wire, 201, res.put(ResourceEntry(grant=[Permission.READ], revoke=[])))
    await step("getResource", wire, 200, res.get(), {"grant": ["READ"], "revoke": []})
    await step("getResources", wire, 200, ops.resources.get(),
               {"thing:/attributes": {"grant": ["READ"], "revoke": []},
                "thing:/features": {"grant": ["READ"], "revoke": []}})
    await step("deleteSubject", wire, 204, ops.subjects.by_subject_id("nginx:bob").delete())
    await step("getEntryAfter", wire, 200, ops.get(),
               {"subjects": {"nginx:carol": {"type": "test"}},
                "resources": {"thing:/attributes": {"grant": ["READ"], "revoke": []},
                              "thing:/features": {"grant": ["READ"], "revoke": []}},
                "importable": "implicit"})

    # Imports of another policy's entries.
    shared = api.policies.by_policy_id(policy + "-shared")
    viewers = entry(["nginx:bob"], {"thing:/attributes": [Permission.READ]})
    await step("putSharedPolicy", wire, 201, shared.put(NewPolicy(entries=PolicyEntries(
        additional_data={"owner": owner, "viewers": viewers}))))
    imp = p.imports.by_imported_policy_id(policy + "-shared")
    await step("putImport", wire, 201, imp.put(PolicyImport(entries=["viewers"])))
    await step("getImport", wire, 200, imp.get(), {"entries": ["viewers"]})
    await step("getImports", wire, 200, p.imports.get(), {policy + "-shared": {"entries": ["viewers"]}})
    await step("deleteImport", wire, 204, imp.delete())

    # Token integration needs a JWT (these callers use Basic): Ditto's 400.
    needs_jwt = {"status": 400, "error": "policies:action.failed",
                 "message": "Failed to execute action 'activateTokenIntegration'.",
                 "description": "Policy action is only possible with JWT authentication."}
    await step("activateTokenIntegration", wire, 400,
               p.actions.activate_token_integration.post(ActivateTokenIntegrationPostRequestBody()), needs_jwt)
    await step("deactivateEntryTokenIntegration", wire, 400,
               e.actions.deactivate_token_integration.post(),
               dict(needs_jwt, message="Failed to execute action 'deactivateTokenIntegration'."))

    # Things and their sub-resources.
    t = api.things.by_thing_id(thing)
    new = NewThing(
        policy_id=policy,
        attributes=Attributes(additional_data={"location": {"lat": 1, "lon": 2}}),
        features=Features(additional_data={"lamp": {"properties": {"on": False, "level": {"value": 3}}}}),
    )
    await step("putThing", wire, 201, t.put(new))
    _, got = await step("getThing", wire, 200, t.get())
    etag = got["headers"]["etag"]
    await step("getThingNotModified", wire, 304, t.get(config(t, "get", {"If-None-Match": etag})))
    await step("patchThingIfMatchStale", wire, 412,
               t.patch(PatchThing(attributes=Attributes(additional_data={"x": 1})),
                       config(t, "patch", {"If-Match": '"rev:99"'})))
    await step("patchThingConditionFalse", wire, 412,
               t.patch(PatchThing(attributes=Attributes(additional_data={"x": 1})),
                       config(t, "patch", condition="eq(attributes/location/lat,99)")))
    await step("patchThingConditionTrue", wire, 204,
               t.patch(PatchThing(attributes=Attributes(additional_data={"x": 1})),
                       config(t, "patch", condition="eq(attributes/location/lat,1)")))
    await step("getThingFields", wire, 200,
               t.get(config(t, "get", fields="thingId,attributes/location/lat,attributes/x")),
               {"thingId": thing, "attributes": {"location": {"lat": 1}, "x": 1}})
    await step("getThingPolicyField", wire, 200, t.get(config(t, "get", fields="_policy/entries/owner/subjects")),
               {"_policy": {"entries": {"owner": {"subjects": {"nginx:ditto": {"type": "test"}}}}}})
    await step("getPolicyId", wire, 200, t.policy_id.get(), policy)
    await step("putDefinition", wire, 201, t.definition.put("org.py:lamp:1.0.0"))
    await step("getDefinition", wire, 200, t.definition.get(), "org.py:lamp:1.0.0")
    await step("deleteDefinition", wire, 204, t.definition.delete())

    attrs = t.attributes
    await step("getAttributes", wire, 200, attrs.get(), {"location": {"lat": 1, "lon": 2}, "x": 1})
    await step("patchAttributes", wire, 204, attrs.patch(Attributes(additional_data={"x": None, "y": 2})))
    # The client encodes the `/` of an attribute path as %2F.
    lat = attrs.by_attribute_path("location/lat")
    await step("getAttribute", wire, 200, lat.get(), 1)
    alt = attrs.by_attribute_path("location/alt")
    await step("putAttribute", wire, 201, alt.put(WithAttributePathPutRequestBody(additional_data={"m": 5})))
    await step("getAttributeAfter", wire, 200, attrs.by_attribute_path("location").get(),
               {"lat": 1, "lon": 2, "alt": {"m": 5}})
    await step("deleteAttribute", wire, 204, alt.delete())

    feats = t.features
    await step("getFeatures", wire, 200, feats.get(),
               {"lamp": {"properties": {"on": False, "level": {"value": 3}}}})
    fan = feats.by_feature_id("fan")
    await step("putFeature", wire, 201, fan.put(Feature(properties=FeatureProperties(additional_data={"rpm": 0}))))
    await step("getFeature", wire, 200, fan.get(), {"properties": {"rpm": 0}})
    await step("getFeatureFields", wire, 200, feats.by_feature_id("lamp").get(config(fan, "get", fields="properties/level")),
               {"properties": {"level": {"value": 3}}})
    await step("putFeatureDefinition", wire, 201, fan.definition.put(["org.py:fan:1.0.0"]))
    await step("getFeatureDefinition", wire, 200, fan.definition.get(), ["org.py:fan:1.0.0"])
    await step("patchProperties", wire, 204, fan.properties.patch(FeatureProperties(additional_data={"mode": "eco"})))
    await step("getProperties", wire, 200, fan.properties.get(), {"rpm": 0, "mode": "eco"})
    level = feats.by_feature_id("lamp").properties.by_property_path("level/value")
    await step("getProperty", wire, 200, level.get(), 3)
    await step("putProperty", wire, 204, feats.by_feature_id("lamp").properties.by_property_path("level").put(
        WithPropertyPathPutRequestBody(additional_data={"value": 4})))
    await step("getPropertyAfter", wire, 200, level.get(), 4)
    await step("putDesiredProperties", wire, 201,
               fan.desired_properties.put(FeatureProperties(additional_data={"rpm": 900})))
    await step("getDesiredProperty", wire, 200, fan.desired_properties.by_property_path("rpm").get(), 900)
    await step("deleteDesiredProperties", wire, 204, fan.desired_properties.delete())
    await step("deleteFeature", wire, 204, fan.delete())

    # The grant put through an encoded resource key is in force: carol reads the features only.
    ct = carol.api.two.things.by_thing_id(thing)
    await step("carolGetFeatures", carol_wire, 200, ct.features.get(),
               {"lamp": {"properties": {"on": False, "level": {"value": 4}}}})
    await step("carolGetThing", carol_wire, 200, ct.get(),
               {"thingId": thing, "attributes": {"location": {"lat": 1, "lon": 2}, "y": 2},
                "features": {"lamp": {"properties": {"on": False, "level": {"value": 4}}}}})

    # Creation with a generated id, and the multi-get.
    _, posted = await step("postThing", wire, 201,
                           api.things.post(NewThing(policy_id=policy),
                                           config(api.things, "post", namespace="org.py")))
    second = posted["headers"]["location"].rsplit("/", 1)[1]
    await step("getThingsByIds", wire, 200,
               api.things.get(config(api.things, "get", ids=[thing, second, "org.py:missing"], fields="thingId")),
               [{"thingId": thing}, {"thingId": second}])

    # Search: found by an indexed attribute, sorted and paged; counted.
    search = api.search.things
    await step("searchThings", wire, 200,
               search.get(config(search, "get", filter="eq(attributes/location/lat,1)", namespaces="org.py",
                                 fields="thingId", option="sort(+thingId),size(10)")),
               {"items": [{"thingId": thing}]})
    await step("countThings", wire, 200,
               search.count.get(config(search.count, "get", filter=f'in(thingId,"{thing}","{second}")',
                                       namespaces="org.py")),
               2)

    # Messages: a device answers those with a subject; timeout=0 is fire-and-forget.
    inbox = t.inbox.messages.by_message_subject("ask/colour")
    await step("postInboxMessage", wire, 200, inbox.post("which colour?"))
    await step("postFeatureOutboxMessage", wire, 200,
               feats.by_feature_id("lamp").outbox.messages.by_message_subject("report").post("warm"))
    await step("postMessageNoWait", wire, 202,
               t.inbox.messages.by_message_subject("ping").post("1", config(t.inbox.messages.by_message_subject("ping"), "post", timeout="0")))
    await step("postClaim", wire, 200, t.inbox.claim.post("mine, please"), {"got": "mine, please"})

    # The live channel: the device answers; the smart channel asks it only when the condition holds.
    loc = attrs.by_attribute_path("location")
    await step("getAttributeLive", wire, 200,
               loc.get(config(loc, "get", channel=GetChannelQueryParameterType.Live, timeout="10s")),
               "from-device")
    await step("getAttributeSmartMatched", wire, 200,
               loc.get(config(loc, "get", live_channel_condition="eq(attributes/location/lat,1)", timeout="10s")),
               "from-device")
    await step("getAttributeSmartNotMatched", wire, 200,
               loc.get(config(loc, "get", live_channel_condition="eq(attributes/location/lat,7)")),
               {"lat": 1, "lon": 2})
    await step("getAttributeSmartUseTwin", wire, 200,
               loc.get(config(loc, "get", live_channel_condition="eq(attributes/location/lon,2)", timeout="1s",
                              live_channel_timeout_strategy=GetLiveChannelTimeoutStrategyQueryParameterType.UseTwin)),
               {"lat": 1, "lon": 2})
    await step("postMessageMissingThing", wire, 404,
               api.things.by_thing_id("org.py:missing").inbox.messages.by_message_subject("ask").post("x"))

    await step("checkPermissions", wire, 200,
               api.check_permissions.post(PermissionCheckRequest(additional_data={
                   "read": {"resource": "thing:/features", "entityId": thing, "hasPermissions": ["READ"]},
                   "admin": {"resource": "policy:/", "entityId": policy, "hasPermissions": ["WRITE"]}})),
               {"read": True, "admin": True})

    # Removal.
    await step("deleteSecondThing", wire, 204, api.things.by_thing_id(second).delete())
    await step("deleteThing", wire, 204, t.delete())
    await step("getDeletedThing", wire, 404, t.get())
    await step("deleteEntry", wire, 204, ops.delete())
    await step("deletePolicy", wire, 204, p.delete())
    await step("deleteSharedPolicy", wire, 204, shared.delete())


asyncio.run(main())
