"""Inputs: the key-map file, debounce, level check, watchdog, GPIO (MockFactory) and evdev."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afon.controls import Control, ControlEvent
from afon.errors import ConfigError
from afon.inputs import InputHub
from afon.inputs.keymap import InputMap, load_input_map, parse_inline
from afon.inputs.watchdog import Watchdog

EXAMPLE = """\
debounce_ms = 25
max_hold_s = 30

[max_hold]
SHUTTER = 120

[gpio]
AF_ON = 17
SHUTTER = 27

[evdev]
device = "/dev/input/by-id/usb-footswitch-event-kbd"
AF_ON = "KEY_A"
shutter = "KEY_B"

[keyboard]
AF_ON = ["KeyA", "Space"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inputs.toml"
    path.write_text(text)
    return path


# --- the key-map file ----------------------------------------------------------------------
def test_keymap_file_parses_every_kind(tmp_path: Path) -> None:
    m = load_input_map(write(tmp_path, EXAMPLE))
    assert m.gpio == {"AF_ON": 17, "SHUTTER": 27}
    assert m.evdev == {"AF_ON": "KEY_A", "SHUTTER": "KEY_B"}
    assert m.evdev_device == "/dev/input/by-id/usb-footswitch-event-kbd"
    assert m.keyboard["AF_ON"] == ["KeyA", "Space"]
    assert m.keyboard["SHUTTER"] == ["KeyG"]  # web/keys.py's default kept
    assert m.debounce_s == pytest.approx(0.025)
    assert m.max_hold_for("AF_ON") == 30 and m.max_hold_for("SHUTTER") == 120


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("[gpio]\nAF_ONN = 17\n", "gpio.AF_ONN", "unknown control"),
        ("[gpio]\nAF_ON = 40\n", "gpio.AF_ON", "<= 27"),
        ("[gpio]\nAF_ON = -1\n", "gpio.AF_ON", ">= 0"),
        ("[gpio]\nAF_ON = '17'\n", "gpio.AF_ON", "integer"),
        ("[gpio]\nAF_ON = 17\nSHUTTER = 17\n", "gpio.SHUTTER", "already bound to AF_ON"),
        ("[gpio]\nAF_ON = 17\naf-on = 18\n", "gpio.af-on", "given twice"),
        ('[evdev]\nAF_ON = "KEY_NOSUCH"\n', "evdev.AF_ON", "unknown evdev key"),
        ('[evdev]\nAF_ON = "A"\n', "evdev.AF_ON", "not an evdev key"),
        ('[evdev]\nAF_ON = "KEY_A"\nSHUTTER = "KEY_A"\n', "evdev.SHUTTER", "already bound"),
        ('[evdev]\nAF_ON = "KEY_A"\ndevise = "/dev/x"\n', "evdev.devise", "unknown control"),
        ('[keyboard]\nAF_ON = "Key A"\n', "keyboard.AF_ON", "KeyboardEvent.code"),
        ('[keyboard]\nAF_ON = "KeyG"\n', "keyboard.AF_ON", "already bound"),
        ("[gpoi]\nAF_ON = 17\n", "gpoi", "unknown field"),
        ("debounce_ms = -3\n", "debounce_ms", ">= 0"),
        ("max_hold_s = 0\n", "max_hold_s", "> 0"),
        ("[max_hold]\nFOCUS = 3\n", "max_hold.FOCUS", "unknown control"),
        ("[gpio\n", "", "invalid TOML"),
    ],
)
def test_keymap_errors_name_file_and_field(
    tmp_path: Path, text: str, field: str, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_input_map(path)
    assert info.value.source == str(path)
    assert info.value.field == field
    assert words in info.value.problem


def test_inline_form() -> None:
    m = parse_inline("gpio:af_on=17,shutter=27")
    assert m.gpio == {"AF_ON": 17, "SHUTTER": 27}
    m = parse_inline("evdev:af_on=KEY_A,shutter=key_b,device=/dev/input/event3;gpio:af_off=22")
    assert m.evdev == {"AF_ON": "KEY_A", "SHUTTER": "KEY_B"}
    assert m.evdev_device == "/dev/input/event3"
    assert m.gpio == {"AF_OFF": 22}
    merged = InputMap(gpio={"AF_ON": 5}, debounce_s=0.05).merged(m)
    assert merged.gpio == {"AF_OFF": 22} and merged.debounce_s == 0.05


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("gpio:af_on=x", "gpio.af_on"),
        ("gpio:af_on=17,shutter=17", "gpio.shutter"),
        ("gpio:af_on", "gpio.af_on"),
        ("usb:af_on=1", "usb:af_on=1"),
        ("gpio:focus=3", "gpio.focus"),
        ("", ""),
    ],
)
def test_inline_errors(text: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_inline(text)
    assert info.value.source == "--inputs" and info.value.field == field


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(EXAMPLE)),
            st.integers(min_value=0, max_value=6),
            st.text(alphabet="[]=\"'.,-_0123456789 \nKEY_AFONgpioevdkbrd", max_size=6),
        ),
        max_size=4,
    )
)
def test_mutated_documents_only_raise_config_errors(
    tmp_path: Path, edits: list[tuple[int, int, str]]
) -> None:
    text = EXAMPLE
    for at, cut, insert in edits:
        at = min(at, len(text))
        text = text[:at] + insert + text[at + cut :]
    path = write(tmp_path, text)
    try:
        load_input_map(path)
    except ConfigError as exc:
        assert exc.source == str(path)
        assert str(exc).startswith(str(path))


# --- hub: debounce, level check, watchdog --------------------------------------------------
class FakeSource:
    name = "fake"

    def __init__(self) -> None:
        self.level: dict[str, bool] = {}
        self.closed = False

    def levels(self) -> dict[str, bool]:
        return dict(self.level)

    def close(self) -> None:
        self.closed = True


def controls(events: list[ControlEvent]) -> list[tuple[Control, bool]]:
    return [(e.control, e.pressed) for e in events]


def test_shutter_is_half_then_full_and_released_in_reverse() -> None:
    hub = InputHub()
    hub.put("SHUTTER", True)
    events, _ = hub.poll(1.0)
    assert controls(events) == [(Control.SHUTTER_HALF, True), (Control.SHUTTER_FULL, True)]
    hub.put("SHUTTER", False)
    events, _ = hub.poll(2.0)
    assert controls(events) == [(Control.SHUTTER_FULL, False), (Control.SHUTTER_HALF, False)]
    assert all(e.t_s == 2.0 for e in events)


def test_bounce_is_ignored_and_the_level_settles_it() -> None:
    hub = InputHub(debounce_s=0.02)
    source = FakeSource()
    hub.add(source)
    source.level["AF_ON"] = True
    for pressed in (True, False, True, False, True):  # a bouncing contact, one drain
        hub.put("AF_ON", pressed)
    events, _ = hub.poll(1.0)
    assert controls(events) == [(Control.AF_ON, True)]
    # the contact settles released, the last bounce edge (a release) was swallowed
    hub.put("AF_ON", False)
    source.level["AF_ON"] = False
    events, notices = hub.poll(1.005)
    assert events == [] and notices == []  # still inside the debounce time
    events, notices = hub.poll(1.03)
    assert controls(events) == [(Control.AF_ON, False)]
    assert [n.kind for n in notices] == ["level-release"]


def test_auto_repeat_and_stray_release_change_nothing() -> None:
    hub = InputHub(debounce_s=0.0)
    hub.put("AF_ON", False)
    hub.put("AF_ON", True)
    hub.put("AF_ON", True)
    events, _ = hub.poll(0.5)
    assert controls(events) == [(Control.AF_ON, True)]
    hub.put("NOT_AN_ACTION", True)
    assert hub.poll(0.6) == ([], [])


def test_watchdog_ends_a_stale_press_until_let_go() -> None:
    hub = InputHub(max_hold_s={"AF_ON": 30.0, "SHUTTER": 120.0})
    source = FakeSource()
    hub.add(source)
    source.level["AF_ON"] = True  # stuck low: the level check cannot help
    hub.put("AF_ON", True)
    assert controls(hub.poll(0.0)[0]) == [(Control.AF_ON, True)]
    assert hub.poll(29.9) == ([], [])
    events, notices = hub.poll(30.1)
    assert controls(events) == [(Control.AF_ON, False)]
    assert notices[0].kind == "watchdog" and "30 s" in str(notices[0])
    hub.put("AF_ON", True)  # an edge from the stuck button does not restart AF
    assert hub.poll(31.0)[0] == []
    source.level["AF_ON"] = False  # let go
    hub.poll(32.0)
    source.level["AF_ON"] = True
    hub.put("AF_ON", True)
    assert controls(hub.poll(33.0)[0]) == [(Control.AF_ON, True)]
    hub.close()
    assert source.closed


def test_watchdog_limits() -> None:
    dog = Watchdog(lambda a: 5.0 if a == "AF_ON" else 60.0)
    assert dog.stale({"AF_ON": 0.0, "SHUTTER": 0.0}, 10.0) == ["AF_ON"]


def test_hub_from_map_uses_the_map_limits() -> None:
    hub = InputHub.from_map(InputMap(debounce_s=0.01, max_hold_overrides={"AF_ON": 2.0}))
    assert hub.debounce_s == 0.01 and hub.watchdog.limit_s("AF_ON") == 2.0
    assert hub.watchdog.limit_s("SHUTTER") == 30.0


# --- GPIO through gpiozero's MockFactory --------------------------------------------------


def test_gpio_buttons_feed_the_hub(mock_pins: Any) -> None:
    from afon.inputs.gpio import GpioInput

    hub = InputHub(debounce_s=0.02)
    hub.add(GpioInput(hub, {"AF_ON": 17, "SHUTTER": 27}))
    pin = mock_pins.pin(17)
    pin.drive_low()  # pull-up, active low: pressed
    assert controls(hub.poll(1.0)[0]) == [(Control.AF_ON, True)]
    pin.drive_high()
    assert controls(hub.poll(1.1)[0]) == [(Control.AF_ON, False)]
    hub.close()


def test_gpio_dropped_release_edge_is_repaired_by_the_level(mock_pins: Any) -> None:
    from afon.inputs.gpio import GpioInput

    hub = InputHub(debounce_s=0.02)
    gpio = GpioInput(hub, {"AF_ON": 17})
    hub.add(gpio)
    pin = mock_pins.pin(17)
    pin.drive_low()
    assert controls(hub.poll(1.0)[0]) == [(Control.AF_ON, True)]
    pin._change_state(True)  # the pin goes high but no edge callback fires
    assert gpio.levels() == {"AF_ON": False}
    assert hub.queue.empty()
    events, notices = hub.poll(1.1)
    assert controls(events) == [(Control.AF_ON, False)]
    assert notices[0].kind == "level-release" and "AF_ON" in notices[0].message
    hub.close()


# --- evdev on synthetic events -------------------------------------------------------------
def key_event(code_name: str, value: int) -> Any:
    from evdev import InputEvent, ecodes

    return InputEvent(0, 0, ecodes.EV_KEY, getattr(ecodes, code_name), value)


class FakeDevice:
    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.active: list[int] = []
        self.closed = False

    def read_loop(self) -> Iterator[Any]:
        yield from self.events

    def active_keys(self) -> list[int]:
        return list(self.active)

    def close(self) -> None:
        self.closed = True


def test_evdev_events_press_and_release_ignoring_auto_repeat() -> None:
    from evdev import InputEvent, ecodes

    from afon.inputs.evdev_input import EvdevInput

    hub = InputHub(debounce_s=0.0)
    events = [
        InputEvent(0, 0, ecodes.EV_MSC, ecodes.MSC_SCAN, 4),
        key_event("KEY_B", 1),
        key_event("KEY_B", 2),
        key_event("KEY_B", 2),
        key_event("KEY_Z", 1),  # unbound
        InputEvent(0, 0, ecodes.EV_SYN, 0, 0),
    ]
    device = FakeDevice(events)
    source = EvdevInput(hub, {"AF_ON": "KEY_A", "SHUTTER": "KEY_B"}, device)
    hub.add(source)
    device.active = [ecodes.KEY_B]
    source.run()
    assert hub.queue.qsize() == 1
    assert controls(hub.poll(1.0)[0]) == [
        (Control.SHUTTER_HALF, True),
        (Control.SHUTTER_FULL, True),
    ]
    source.feed(key_event("KEY_B", 0))
    device.active = []
    assert controls(hub.poll(1.2)[0]) == [
        (Control.SHUTTER_FULL, False),
        (Control.SHUTTER_HALF, False),
    ]
    hub.close()
    assert device.closed


def test_evdev_lost_release_is_repaired_by_active_keys() -> None:
    from evdev import ecodes

    from afon.inputs.evdev_input import EvdevInput

    hub = InputHub(debounce_s=0.02)
    device = FakeDevice([key_event("KEY_A", 1)])
    source = EvdevInput(hub, {"AF_ON": "KEY_A"}, device)
    hub.add(source)
    device.active = [ecodes.KEY_A]
    source.start()
    assert source._thread is not None
    source._thread.join(timeout=5)
    assert controls(hub.poll(1.0)[0]) == [(Control.AF_ON, True)]
    assert hub.poll(1.5)[0] == []  # still held by level
    device.active = []  # released, but the release event never came
    events, notices = hub.poll(2.0)
    assert controls(events) == [(Control.AF_ON, False)]
    assert notices[0].kind == "level-release"


# --- one key-map parser: the [keyboard] section, --keys files, the browser's maps --------------
def test_one_parser_for_every_key_map_file(tmp_path: Path) -> None:
    from afon.inputs.keymap import ACTION_CONTROLS, load_input_map, load_keyboard_map
    from afon.web.keys import DEFAULT_KEYS, PAGE_ACTIONS, default_keymap

    # the browser's actions are the bindable controls plus the page's own view toggles
    assert set(DEFAULT_KEYS) == set(ACTION_CONTROLS) | set(PAGE_ACTIONS)
    full = tmp_path / "keymap.toml"
    full.write_text('[gpio]\nAF_ON = 17\n\n[keyboard]\naf-on = "Space"\n')
    bare = tmp_path / "keys.toml"
    bare.write_text('af-on = "Space"\n')
    as_json = tmp_path / "keys.json"
    as_json.write_text('{"af-on": "Space"}')
    expected = default_keymap() | {"AF_ON": ["Space"]}
    for path in (full, bare, as_json):
        assert load_keyboard_map(path) == expected, path
    assert load_input_map(full).keyboard == expected
    gpio_only = tmp_path / "gpio.toml"
    gpio_only.write_text("[gpio]\nAF_ON = 17\n")
    assert load_keyboard_map(gpio_only) == default_keymap()
    bad = tmp_path / "bad.toml"
    bad.write_text('[keyboard]\nAF_ON = "Key A"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: keyboard\.AF_ON: 'Key A' is not"):
        load_keyboard_map(bad)
    bare_bad = tmp_path / "bare.toml"
    bare_bad.write_text('AF_ON = "Key A"\n')
    with pytest.raises(ConfigError, match=r"bare\.toml: AF_ON: 'Key A' is not"):
        load_keyboard_map(bare_bad)


def test_the_default_key_map_file_is_read_from_the_config_folder(tmp_path: Path) -> None:
    from afon.paths import config_dir, default_keymap_file, trainer_db
    from afon.web.serve import browser_keymap

    # conftest points XDG_* at empty folders: platformdirs follows them
    assert os.environ["XDG_CONFIG_HOME"] in str(config_dir())
    assert trainer_db().name == "trainer.sqlite"
    assert os.environ["XDG_DATA_HOME"] in str(trainer_db())
    assert browser_keymap()["AF_ON"] == ["KeyA"]
    default_keymap_file().parent.mkdir(parents=True)
    default_keymap_file().write_text('[keyboard]\nAF_ON = "KeyQ"\n')
    assert browser_keymap()["AF_ON"] == ["KeyQ"]


# --- evdev: choosing, grabbing and letting go of a device (python-evdev's API) ----------------
def evdev_bus() -> tuple[Any, Any, Any, Any]:
    from fake_evdev import FakeDeviceSpec, FakeEvdev

    power = FakeDeviceSpec("/dev/input/event0", "Power Button", ("KEY_POWER",))
    keyboard = FakeDeviceSpec("/dev/input/event1", "Logitech USB Keyboard", ("KEY_A", "KEY_B"))
    foot = FakeDeviceSpec("/dev/input/event2", "PCsensor FootSwitch", ("KEY_A", "KEY_B"))
    return FakeEvdev(power, keyboard, foot), power, keyboard, foot


def test_evdev_device_is_chosen_by_name_and_grabbed_by_default() -> None:
    from afon.inputs.evdev_input import EvdevInput, open_device

    bus, power, keyboard, foot = evdev_bus()
    device, info, chosen = open_device("footswitch", ["KEY_A", "KEY_B"], evdev=bus)
    assert info.path == "/dev/input/event2" and chosen
    assert power.closed == 1 and keyboard.closed == 1 and foot.closed == 0  # others closed
    hub = InputHub()
    codes = {"KEY_A": 30, "KEY_B": 48}
    keys = {"AF_ON": "KEY_A", "SHUTTER": "KEY_B"}
    source = EvdevInput(hub, keys, device, grab=chosen, codes=codes)
    assert foot.grabbed and source.grabbed
    source.close()
    assert not foot.grabbed and foot.closed == 1


@pytest.mark.parametrize(
    ("spec", "keys", "message"),
    [
        (None, ["KEY_A"], "several input devices have all the bound keys"),
        (None, ["KEY_F13"], "no input device has all the bound keys"),
        ("o", ["KEY_A"], "matches several input devices"),
        ("camera remote", ["KEY_A"], "no input device named 'camera remote'"),
    ],
)
def test_evdev_device_choice_never_guesses(spec: str | None, keys: list[str], message: str) -> None:
    from afon.errors import AfonError
    from afon.inputs.evdev_input import open_device

    bus, *_ = evdev_bus()
    with pytest.raises(AfonError, match=message):
        open_device(spec, keys, evdev=bus)


def test_evdev_the_one_device_with_the_keys_is_used_but_not_grabbed() -> None:
    from afon.inputs.evdev_input import open_device

    bus, *_ = evdev_bus()
    _, info, chosen = open_device(None, ["KEY_POWER"], evdev=bus)
    assert info.name == "Power Button" and not chosen  # picked, not chosen: shared


def test_evdev_a_device_grabbed_by_another_program_is_a_clear_error() -> None:
    from afon.errors import AfonError
    from afon.inputs.evdev_input import EvdevInput, open_device
    from fake_evdev import FakeDeviceSpec, FakeEvdev

    busy = FakeDeviceSpec("/dev/input/event5", "FootSwitch", ("KEY_A",), grabbed_by_other=True)
    device, _, _ = open_device("/dev/input/event5", ["KEY_A"], evdev=FakeEvdev(busy))
    with pytest.raises(AfonError, match="grab=no"):
        EvdevInput(InputHub(), {"AF_ON": "KEY_A"}, device, grab=True, codes={"KEY_A": 30})


def test_evdev_read_thread_feeds_the_hub_and_ends_cleanly_on_close() -> None:
    from afon.inputs.evdev_input import EvdevInput, open_device
    from waiting import wait_for

    bus, _, _, foot = evdev_bus()
    device, _, chosen = open_device("PCsensor FootSwitch", ["KEY_A"], evdev=bus)
    hub = InputHub()
    source = EvdevInput(hub, {"AF_ON": "KEY_A"}, device, grab=chosen, codes={"KEY_A": 30})
    hub.add(source)
    source.start()
    foot.press("KEY_A")
    events: list[ControlEvent] = []
    wait_for(lambda: events.extend(hub.poll(1.0)[0]) or events, what="the press")
    assert controls(events) == [(Control.AF_ON, True)]
    thread = source._thread
    assert thread is not None and thread.is_alive()
    hub.close()  # what Ctrl-C ends in: the thread stops, no traceback
    assert not thread.is_alive() and source.error is None


def test_evdev_unplugged_device_ends_the_thread_and_says_so() -> None:
    from afon.inputs.evdev_input import EvdevInput, open_device
    from waiting import wait_for

    bus, _, _, foot = evdev_bus()
    device, _, _ = open_device("footswitch", ["KEY_A"], evdev=bus)
    hub = InputHub()
    source = EvdevInput(hub, {"AF_ON": "KEY_A"}, device, codes={"KEY_A": 30})
    hub.add(source)
    source.start()
    foot.press("KEY_A")
    wait_for(lambda: not hub.queue.empty(), what="the press")
    hub.poll(1.0)
    foot.unplug()
    wait_for(lambda: source.error is not None, what="the read loop to end")
    assert "input device gone" in str(source.error)
    events, _ = hub.poll(1.5)  # the level check releases what the unplugged device held
    assert controls(events) == [(Control.AF_ON, False)]
    hub.close()


def test_list_devices_names_every_readable_device() -> None:
    from afon.inputs.evdev_input import describe_devices
    from fake_evdev import FakeDeviceSpec

    bus, *_ = evdev_bus()
    bus.devices["/dev/input/event9"] = FakeDeviceSpec("/dev/input/event9", "x", unreadable=True)
    infos = describe_devices(bus)
    assert [(i.path, i.name, i.keys) for i in infos] == [
        ("/dev/input/event0", "Power Button", 1),
        ("/dev/input/event1", "Logitech USB Keyboard", 2),
        ("/dev/input/event2", "PCsensor FootSwitch", 2),
    ]


def test_keymap_evdev_grab_and_terminal_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[evdev]\ndevice = "FootSwitch"\ngrab = false\nAF_ON = "KEY_A"\n'
        '[keys]\nAF_ON = "a"\nSHUTTER = "space"\n',
    )
    m = load_input_map(path)
    assert m.evdev_device == "FootSwitch" and m.evdev_grab is False
    assert m.terminal == {"AF_ON": "a", "SHUTTER": " "}
    assert parse_inline("evdev:af_on=KEY_A,grab=no").evdev_grab is False
    assert parse_inline("keys").terminal == {
        "AF_ON": "a", "AF_OFF": "o", "SHUTTER_HALF": "h", "SHUTTER": " "
    }  # fmt: skip
    assert parse_inline("keys:af_on=x,shutter=enter").terminal == {"AF_ON": "x", "SHUTTER": "\n"}
    with pytest.raises(ConfigError, match=r"keys\.af_on: expected one character"):
        parse_inline("keys:af_on=ab")
    with pytest.raises(ConfigError, match=r"evdev\.grab"):
        parse_inline("evdev:af_on=KEY_A,grab=maybe")


# --- terminal keys ----------------------------------------------------------------------------
def test_terminal_keys_toggle_af_on_and_tap_the_shutter() -> None:
    from afon.inputs.terminal import TerminalKeys

    now = [0.0]
    hub = InputHub()
    keys = TerminalKeys(hub, {"AF_ON": "a", "SHUTTER": " "}, lambda: now[0], tap_s=0.15)
    hub.add(keys)
    keys.feed("a")
    assert controls(hub.poll(0.0)[0]) == [(Control.AF_ON, True)]
    keys.feed(" ")
    now[0] = 0.05
    assert controls(hub.poll(0.05)[0]) == [
        (Control.SHUTTER_HALF, True), (Control.SHUTTER_FULL, True)
    ]  # fmt: skip
    now[0] = 0.1
    assert hub.poll(0.1) == ([], [])  # still down: no release, no level warning
    now[0] = 0.2
    events, notices = hub.poll(0.2)
    assert controls(events) == [(Control.SHUTTER_FULL, False), (Control.SHUTTER_HALF, False)]
    assert notices == []
    keys.feed("a")  # the second press lets AF-ON go
    assert controls(hub.poll(0.3)[0]) == [(Control.AF_ON, False)]
    keys.feed("z")  # not bound
    assert hub.poll(0.4) == ([], [])


def test_terminal_keys_read_a_stream_on_a_thread_and_stop_on_close() -> None:
    import os

    from afon.inputs.terminal import TerminalKeys
    from waiting import wait_for

    read_fd, write_fd = os.pipe()
    stream = os.fdopen(read_fd, "r")
    hub = InputHub()
    keys = TerminalKeys(hub, {"AF_ON": "a"}, lambda: 0.0, stream=stream)
    hub.add(keys)
    keys.start()
    os.write(write_fd, b"a")
    wait_for(lambda: not hub.queue.empty(), what="the key")
    assert controls(hub.poll(0.0)[0]) == [(Control.AF_ON, True)]
    thread = keys._thread
    hub.close()
    assert thread is not None and not thread.is_alive()
    os.close(write_fd)
    stream.close()


# --- GPIO absent -------------------------------------------------------------------------------
def test_no_gpio_is_said_plainly_without_gpiozero_fallback_warnings() -> None:
    import warnings

    from afon.errors import AfonError
    from afon.inputs.gpio import GpioInput, gpio_available

    if gpio_available()[0]:
        pytest.skip("this machine has GPIO")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(AfonError, match=r"no GPIO on this machine.*--inputs keys"):
            GpioInput(InputHub(), {"AF_ON": 17})
    assert [w for w in caught if "PinFactory" in type(w.message).__name__] == []


# --- any key-map document or inline text: an InputMap or a ConfigError naming the field --------
_KEYMAP_KEYS = [
    "debounce_ms", "max_hold_s", "max_hold", "gpio", "encoder", "evdev", "keys", "keyboard", "x"
]  # fmt: skip
_SECTION_KEYS = [
    "AF_ON", "af-on", "SHUTTER", "AF_OFF", "device", "grab", "FOCUS", "KeyA", "a", "b", "step_d",
    "button",
]  # fmt: skip
_scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=6),
    st.sampled_from(["KEY_A", "KEY_B", "BTN_0", "KeyA", "Space", "space", "a", "yes", "17"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_SECTION_KEYS), inner)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYMAP_KEYS), _values, max_size=6))
def test_any_key_map_document_gives_bindings_or_a_named_error(doc: dict[str, Any]) -> None:
    from afon.config import TomlDoc
    from afon.inputs.keymap import ACTION_CONTROLS, parse_input_map

    try:
        m = parse_input_map(TomlDoc(doc, "fuzz.toml"))
    except ConfigError as exc:
        assert exc.source == "fuzz.toml" and exc.problem
        assert exc.field.split(".")[0].split("[")[0] in doc, str(exc)
        return
    assert set(m.gpio) <= set(ACTION_CONTROLS) and len(set(m.gpio.values())) == len(m.gpio)
    assert all(0 <= pin <= 27 for pin in m.gpio.values())
    assert all(len(c) == 1 for c in m.terminal.values())
    assert 0 <= m.debounce_s <= 1.0 and 0 < m.max_hold_s <= 86400
    if m.encoder is not None:
        button = [m.encoder.button] if m.encoder.button is not None else []
        pins = [m.encoder.a, m.encoder.b, *button, *m.gpio.values()]
        assert len(set(pins)) == len(pins) and math.isfinite(m.encoder.step_d)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="gpioevdkysx:;,=_-AFONSHUTERKEY0123456789 ", max_size=40))
def test_any_inline_text_gives_bindings_or_a_named_error(text: str) -> None:
    try:
        parse_inline(text)
    except ConfigError as exc:
        assert exc.source == "--inputs" and str(exc).startswith("--inputs")
