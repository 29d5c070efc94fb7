"""The image subscription's QoS, and the warning users need most: "runs but sees nothing".

A few seconds after activation, a subscription with no matched publisher gets one warning that says why:
no publisher on the topic at all (with the image topics that do exist, for the remap), or publishers whose
QoS does not match (which setting differs and what to set). An incompatible-QoS event from the middleware
is reported the same way, as it happens.
"""
from __future__ import annotations

from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

CHECK_AFTER_S = 5.0
_RELIABILITY = {'best_effort': ReliabilityPolicy.BEST_EFFORT, 'reliable': ReliabilityPolicy.RELIABLE}


def image_qos(reliability: str, depth: int) -> QoSProfile:
    """Sensor-data QoS (best effort, volatile) with the configured reliability and depth."""
    return QoSProfile(history=qos_profile_sensor_data.history, depth=depth, reliability=_RELIABILITY[reliability],
                      durability=qos_profile_sensor_data.durability)


def mismatch_reason(reliability: str, offered: list[ReliabilityPolicy]) -> str | None:
    """Why publishers offering `offered` reliabilities do not reach a subscription asking `reliability`."""
    if reliability == 'reliable' and offered and all(r == ReliabilityPolicy.BEST_EFFORT for r in offered):
        return ("the publisher(s) offer reliability BEST_EFFORT but this node asks RELIABLE: set "
                "input.reliability: best_effort (the default)")
    return None


class QosWatch:
    """Checks, once per activation, that the image subscription is matched; warns once with the reason."""

    def __init__(self, node, reliability: str):
        self._node = node
        self._reliability = reliability
        self._timer = None
        self._sub = None
        self.warning: str | None = None        # the last warning given (diagnostics show it)

    def callbacks(self) -> SubscriptionEventCallbacks:
        return SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible)

    def start(self, subscription) -> None:
        self._sub = subscription
        self._timer = self._node.create_timer(CHECK_AFTER_S, self._check)

    def stop(self) -> None:
        if self._timer is not None:
            self._node.destroy_timer(self._timer)
            self._timer = None

    def _on_incompatible(self, info) -> None:
        policy = getattr(info.last_policy_kind, 'name', str(info.last_policy_kind))
        self._warn(f"a publisher on '{self._sub.topic_name}' has QoS incompatible with this subscription "
                   f"({policy.replace('RMW_QOS_POLICY_', '')} differs; input.reliability is {self._reliability})")

    def _check(self) -> None:
        self.stop()
        if self._sub is None or self._sub.get_publisher_count() > 0:
            return
        topic = self._sub.topic_name
        infos = self._node.get_publishers_info_by_topic(topic)
        reason = mismatch_reason(self._reliability, [i.qos_profile.reliability for i in infos])
        if reason:
            self._warn(f"no frames can arrive on '{topic}': {reason}")
            return
        if not infos:
            image_topics = sorted(name for name, types in self._node.get_topic_names_and_types()
                                  if any(t.startswith('sensor_msgs/msg/') and 'Image' in t for t in types))
            self._warn(f"no publisher on '{topic}' after {CHECK_AFTER_S:g} s: remap the input (image:=/your/camera/"
                       f"topic); image topics now: {', '.join(image_topics) or 'none'}")

    def _warn(self, message: str) -> None:
        self.warning = message
        self._node.get_logger().warn(message)
