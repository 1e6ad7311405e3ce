"""The pipeline: text/YAML/dict forms, round trips, plane routing, validation, running."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import yaml
from hypothesis import given, settings

import imgrad
from imgrad import Pipeline, PipelineError, ops

from .strategies import PREREQUISITE, step_and_values


@settings(max_examples=150, deadline=None, derandomize=True)
@given(step_and_values())
def test_every_step_round_trips_through_text_yaml_and_dict(drawn):
    name, values = drawn
    steps = PREREQUISITE.get(name, [])
    pipe = Pipeline([*steps, ops.make_step(name, **values)])
    assert Pipeline.parse(str(pipe)) == pipe
    assert Pipeline.from_yaml(pipe.to_yaml()) == pipe
    assert Pipeline.from_dict(pipe.to_dict()) == pipe
    assert pickle.loads(pickle.dumps(pipe)) == pipe
    # ... and the copies compute the same thing
    image = np.random.default_rng(0).integers(0, 256, (12, 13, 3), dtype=np.uint8)
    again = Pipeline.parse(str(pipe))
    a, b = pipe(image), again(image)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_three_ways_to_write_the_same_pipeline():
    text = "gray | gaussian sigma=1.5 | sobel ksize=5 | polar degrees=true"
    objects = Pipeline(
        [ops.Gray(), ops.Gaussian(sigma=1.5), ops.Sobel(ksize=5), ops.Polar(degrees=True)]
    )
    dicts = Pipeline(
        [
            "gray",
            {"gaussian": {"sigma": 1.5}},
            {"sobel": {"ksize": 5}},
            {"polar": {"degrees": True}},
        ]
    )
    yaml_text = """
    steps:
      - gray
      - gaussian: {sigma: 1.5}
      - sobel: {ksize: 5}
      - polar: {degrees: true}
    """
    assert Pipeline.parse(text) == objects == dicts == Pipeline.from_yaml(yaml_text)
    assert str(objects) == text
    assert Pipeline(text) == objects


def test_yaml_file_and_outputs(tmp_path):
    path = tmp_path / "edges.yaml"
    path.write_text("steps: gray | sobel | polar\noutputs: [phase]\n")
    pipe = Pipeline.from_yaml(path)
    assert pipe.outputs == ("phase",)
    assert Pipeline.from_yaml(str(path)) == pipe
    assert str(pipe) == "gray | sobel | polar -> phase"
    assert Pipeline.parse(str(pipe)) == pipe
    assert yaml.safe_load(pipe.to_yaml()) == {
        "steps": ["gray", "sobel", "polar"],
        "outputs": ["phase"],
    }


def test_python_tags_in_yaml_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    text = f"steps: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(PipelineError, match=r"only plain data.*python/object/apply"):
        Pipeline.from_yaml(text)
    assert not marker.exists()


# --- planes ---------------------------------------------------------------------------


def test_default_outputs_are_the_last_steps_planes():
    assert Pipeline.parse("sobel").outputs == ("gx", "gy")
    assert Pipeline.parse("sobel | polar").outputs == ("magnitude", "phase")
    assert Pipeline.parse("sobel | magnitude").outputs == ("magnitude",)
    assert Pipeline.parse("morph").outputs == ("morph",)
    assert Pipeline.parse("gray").outputs == ("image",)
    assert Pipeline.parse("sobel | magnitude | scale").outputs == ("magnitude",)


def test_renamed_planes_and_multi_scale_routing(camera):
    pipe = Pipeline.parse(
        "sobel name=fine | sobel ksize=7 name=coarse | polar input=fine "
        "| magnitude input=coarse name=m7 | morph kind=internal name=inner"
        " -> fine_magnitude,fine_phase,m7,inner"
    )
    out = pipe(camera)
    assert list(out) == ["fine_magnitude", "fine_phase", "m7", "inner"]
    fine, coarse = imgrad.sobel(camera), imgrad.sobel(camera, 7)
    m, p = imgrad.polar(fine.gx, fine.gy)
    np.testing.assert_array_equal(out["fine_magnitude"], m)
    np.testing.assert_array_equal(out["fine_phase"], p)
    np.testing.assert_array_equal(out["m7"], imgrad.magnitude(coarse.gx, coarse.gy))
    np.testing.assert_array_equal(out["inner"], imgrad.morph_gradient(camera, "internal"))
    assert pipe.planes == (
        "image",
        "fine_gx",
        "fine_gy",
        "coarse_gx",
        "coarse_gy",
        "fine_magnitude",
        "fine_phase",
        "m7",
        "inner",
    )


def test_pipeline_equals_the_functions(astronaut):
    pipe = Pipeline.parse(
        "gray | gaussian sigma=1 | scharr normalize=true | polar wrap=half "
        "-> magnitude,phase,image"
    )
    out = pipe(astronaut)
    smooth = imgrad.gaussian(imgrad.gray(astronaut), 1.0)
    g = imgrad.scharr(smooth, normalize=True)
    m, p = imgrad.polar(g.gx, g.gy, wrap="half")
    np.testing.assert_array_equal(out["magnitude"], m)
    np.testing.assert_array_equal(out["phase"], p)
    np.testing.assert_array_equal(out["image"], smooth)


def test_scale_reads_previous_planes_and_named_ones(camera):
    out = Pipeline.parse("sobel | polar | scale")(camera)
    assert out["magnitude"].dtype == out["phase"].dtype == np.uint8
    g = imgrad.sobel(camera)
    m, p = imgrad.polar(g.gx, g.gy)
    np.testing.assert_array_equal(out["magnitude"], imgrad.scale(m))
    np.testing.assert_array_equal(out["phase"], imgrad.scale(p))
    only = Pipeline.parse(
        "sobel | polar | scale input=phase method=range low=0 high=6.2832 -> magnitude,phase"
    )
    out = only(camera)
    assert out["magnitude"].dtype == np.float32 and out["phase"].dtype == np.uint8


def test_halo_is_the_sum_of_step_reaches():
    assert Pipeline.parse("gray | sobel | polar").halo == 1
    assert Pipeline.parse("gaussian sigma=1.5 | sobel ksize=7 | magnitude").halo == 6 + 3
    assert Pipeline.parse("morph size=5 iterations=2 | farid").halo == 4 + 2
    assert Pipeline.parse("morph footprint=[[1,1,1,1]]").halo == 2  # even width: anchor at 2


# --- running --------------------------------------------------------------------------


def test_call_returns_fresh_arrays_and_never_touches_input(camera):
    image = camera.copy()
    out = Pipeline.parse("gray -> image")(image)
    assert not np.shares_memory(out["image"], image)
    out["image"][:] = 0
    np.testing.assert_array_equal(image, camera)


def test_map_over_a_stack_equals_one_by_one(camera, astronaut):
    pipe = Pipeline.parse("gray | sobel | polar")
    stack = np.stack([camera, imgrad.gray(astronaut), camera[::-1]])
    batched = pipe.map(stack)
    for i, image in enumerate(stack):
        single = pipe(image)
        for name in pipe.outputs:
            np.testing.assert_array_equal(batched[name][i], single[name])


@pytest.mark.parametrize(
    "text", ["gray | sobel | polar", "sobel | magnitude | scale", "morph size=5 -> image,morph"]
)
def test_map_over_a_stack_writes_each_result_into_the_stack(text, camera):
    """The stacks are allocated once and each image's planes computed into them:
    no plane of the result shares memory with the input, and the stacks hold
    exactly the images' results (whole-image and strip pipelines alike)."""
    pipe = Pipeline.parse(text)
    stack = np.stack([camera, camera[::-1], camera.T])
    before = stack.copy()
    batched = pipe.map(stack)
    np.testing.assert_array_equal(stack, before)
    for name, planes in batched.items():
        assert planes.flags.c_contiguous and planes.shape[0] == 3
        assert not np.shares_memory(planes, stack)
        for i, image in enumerate(stack):
            np.testing.assert_array_equal(planes[i], pipe(image)[name])


def test_map_over_an_empty_stack_says_so():
    with pytest.raises(ValueError, match=r"'images' parameter of Pipeline.map .* empty"):
        Pipeline.parse("sobel").map(np.zeros((0, 8, 8), np.uint8))


def test_map_over_an_iterable_is_lazy(camera):
    seen = []

    def images():
        for k in range(3):
            seen.append(k)
            yield camera + k

    results = Pipeline.parse("sobel | magnitude").map(images())
    assert seen == []
    first = next(results)
    assert seen == [0] and first["magnitude"].shape == camera.shape
    assert len(list(results)) == 2


# --- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("sobel |", ["Step 2", "empty", "trailing '|'"]),
        ("| sobel", ["Step 1", "leading '|'"]),
        ("sobel | | polar", ["Step 2", "empty"]),
        ("", ["empty", "gray, gaussian, sobel"]),
        ("sobell", ["Unknown step 'sobell'", "Did you mean 'sobel'?"]),
        ("gray | polr", ["Step 2", "Unknown step 'polr'", "Did you mean 'polar'?"]),
        ("sobel ksze=3", ["Unknown parameter 'ksze'", "Did you mean 'ksize'?", "ksize, norm"]),
        ("sobel ksize=4", ["'ksize'", "step 'sobel'", "odd integer from 1 to 31", "Got 4"]),
        ("sobel ksize=abc", ["'ksize'", "Got 'abc'"]),
        ("sobel ksize", ["'ksize'", "key=value"]),
        ("sobel ksize=3 ksize=5", ["'ksize'", "twice"]),
        ("sobel normalize=maybe", ["'normalize'", "true or false", "'maybe'"]),
        ("magnitude", ["Step 1 (magnitude)", "'gx', 'gy'", "derivative step"]),
        ("sobel name=a | polar", ["Step 2 (polar)", "'gx'", "available there: image, a_gx, a_gy"]),
        ("sobel | polar -> mag", ["'mag'", "Did you mean 'magnitude'?"]),
        ("sobel -> gx,gx", ["twice"]),
        ("gaussian sigma=0", ["'sigma'", "> 0", "Got 0"]),
        ("morph footprint=star", ["'footprint'", "'rect'", "'star'"]),
        ("morph footprint=diamond size=3,5", ["'size'", "square", "(3, 5)"]),
        ("morph size=4", ["'size'", "odd", "Got 4"]),
        ("morph footprint=[[0,0],[0,0]]", ["'footprint'", "at least one 1"]),
        ("scale method=range low=2", ["'low' and 'high'", "low < high"]),
        ("scale high=3", ["only used with method='range'"]),
        ("sobel name=2x", ["'name'", "plane name", "'2x'"]),
        ("sobel | polar degrees=true | colorize", ["Step 3", "degrees=true", "give colorize"]),
        ("sobel | polar wrap=half | colorize", ["wrap=half"]),
    ],
)
def test_bad_pipelines_fail_when_built_with_a_clear_message(text, words):
    with pytest.raises(PipelineError) as info:
        Pipeline.parse(text)
    for word in words:
        assert word in str(info.value), str(info.value)


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: Pipeline([]), ["at least one step"]),
        (lambda: Pipeline([42]), ["Step 1", "a step must be"]),
        (lambda: Pipeline(["gray", {"sobel": {"ksize": 4}}]), ["Step 2", "'ksize'"]),
        (lambda: Pipeline([{"sobel": 5}]), ["Step 1", "{name: {parameter: value}}"]),
        (lambda: Pipeline(["sobel | polar"]), ["expected one step"]),
        (lambda: Pipeline.from_dict({"stepz": ["sobel"]}), ["Unknown key 'stepz'"]),
        (lambda: Pipeline.from_dict({"outputs": ["gx"]}), ["no 'steps'"]),
        (lambda: Pipeline.from_yaml("steps: [sobel"), ["Invalid pipeline YAML"]),
        (lambda: Pipeline.from_yaml("missing-file.yaml"), ["Cannot read", "missing-file.yaml"]),
        (lambda: Pipeline.parse(["sobel"]), ["must be a string"]),
        (lambda: ops.Sobel(ksize=4), ["'ksize'", "Got 4"]),
        (lambda: ops.Sobel(size=3), ["Unknown parameter 'size'"]),
        (lambda: ops.make_step("canny"), ["Unknown step 'canny'"]),
    ],
)
def test_bad_constructions(build, words):
    with pytest.raises(PipelineError) as info:
        build()
    for word in words:
        assert word in str(info.value), str(info.value)


def test_pipeline_error_is_a_value_error():
    assert issubclass(PipelineError, ValueError)
    with pytest.raises(ValueError):
        Pipeline.parse("nope")


def test_bad_images_fail_before_any_step(camera):
    pipe = Pipeline.parse("sobel | polar")
    with pytest.raises(ValueError, match="4-D"):
        pipe(np.zeros((2, 2, 2, 2), np.uint8))
    with pytest.raises(TypeError, match="int64"):
        pipe(camera.astype(np.int64))
    with pytest.raises(ValueError, match="stack"):
        pipe.map(camera[0])
    for stack in (np.zeros((3, 8, 8), np.int64), np.zeros((40, 4, 4), np.int64)):
        with pytest.raises(TypeError, match=r"'image' parameter of the pipeline .* int64"):
            pipe.map(stack)
