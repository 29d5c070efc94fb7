"""With no background source, the paper's rules give one line that says what to do, not a warning per class."""
from vad_ros.background_hint import no_background_hint, rule_set_warnings
from vad_ros.reasoning.rules import PAPER_RULES_PATH, load_rules


def test_no_background_one_line_instead_of_a_warning_per_class_object_warnings_kept():
    rules = load_rules(PAPER_RULES_PATH, ('person',), ())          # a person-only detector, no background at all
    assert sum("background source cannot produce" in w for w in rules.warnings) >= 9
    said = rule_set_warnings(rules.warnings, ())
    assert said[0] == no_background_hint()
    assert not any('background source cannot produce' in w for w in said)
    assert [w for w in said[1:]] == [w for w in rules.warnings if 'detector source cannot produce' in w or
                                     'object source cannot produce' in w] and len(said) > 1      # car, bus, ...


def test_with_a_background_the_warnings_are_as_loaded():
    rules = load_rules(PAPER_RULES_PATH, ('person',), ('road', 'grass'))
    assert rule_set_warnings(rules.warnings, ('road', 'grass')) == list(rules.warnings)


def test_the_hint_names_the_two_ways_and_the_map_waited_for():
    generic, waiting = no_background_hint(), no_background_hint('/site/scene.yaml', '/front/image_raw')
    for text in (generic, waiting):
        assert 'vad-scene edit' in text and '--image' in text and 'ADE20K segmenter' in text and '\n' not in text
    assert '`vad-scene edit /site/scene.yaml --topic /front/image_raw`' in waiting and 'not drawn yet' in waiting
    assert 'scene_map_file: scene.yaml' in generic and 'wait_for_scene_map: true' in generic
