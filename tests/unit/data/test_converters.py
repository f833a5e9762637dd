from __future__ import annotations

import base64
import csv
import importlib.util
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from audits.data.converters import ConvertOptions, convert
from audits.data.manifest import read_manifest
from cli.main import main


def png_bytes(colour: tuple[int, int, int], fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), colour).save(buffer, format=fmt)
    return buffer.getvalue()


def save_image(path: Path, colour: tuple[int, int, int] = (10, 20, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(colour))
    return path


def run_convert(fmt: str, source: Path, out: Path, *extra: str) -> list:
    assert (
        main(["convert", "--format", fmt, "--input", str(source), "--out", str(out), *extra]) == 0
    )
    return read_manifest(out)


def test_vqa_rad(tmp_path: Path) -> None:
    root = tmp_path / "osf"
    save_image(root / "VQA_RAD Image Folder" / "synpic1.jpg")
    save_image(root / "VQA_RAD Image Folder" / "synpic2.jpg")
    records = [
        {"qid": 1, "image_name": "synpic1.jpg", "question": "Is there a mass?", "answer": "Yes",
         "answer_type": "CLOSED", "phrase_type": "test_freeform"},
        {"qid": 2, "image_name": "synpic2.jpg", "question": "How many lesions?", "answer": 2,
         "answer_type": "OPEN", "phrase_type": "test_para"},
        {"qid": 3, "image_name": "synpic1.jpg", "question": "Where?", "answer": "left",
         "answer_type": "OPEN", "phrase_type": "freeform"},
    ]  # fmt: skip
    (root / "VQA_RAD Dataset Public.json").write_text(json.dumps(records))
    items = run_convert("vqa-rad", root, tmp_path / "vqa.jsonl")
    assert [i.id for i in items] == ["vqa-rad-1", "vqa-rad-2"]
    assert items[1].answer == "2" and items[0].benchmark == "vqa-rad"
    assert Path(items[0].image) == (root / "VQA_RAD Image Folder" / "synpic1.jpg").resolve()
    train = run_convert("vqa-rad", root, tmp_path / "train.jsonl", "--split", "train")
    assert [i.id for i in train] == ["vqa-rad-3"]
    assert len(run_convert("vqa-rad", root, tmp_path / "all.jsonl", "--split", "all")) == 3


def test_slake_keeps_english_and_modality(tmp_path: Path) -> None:
    root = tmp_path / "Slake1.0"
    save_image(root / "imgs" / "xmlab102" / "source.jpg")
    test = [
        {"qid": 11, "img_name": "xmlab102/source.jpg", "question": "Which organ is abnormal?",
         "answer": "Lung", "q_lang": "en", "answer_type": "OPEN", "modality": "CT"},
        {"qid": 12, "img_name": "xmlab102/source.jpg", "question": "哪个器官异常?",
         "answer": "肺", "q_lang": "zh", "answer_type": "OPEN", "modality": "CT"},
    ]  # fmt: skip
    val = [dict(test[0], qid=21, modality="MRI")]
    (root / "test.json").write_text(json.dumps(test, ensure_ascii=False), encoding="utf-8")
    (root / "validate.json").write_text(json.dumps(val))
    items = run_convert("slake", root, tmp_path / "slake.jsonl")
    assert [(i.id, i.answer, i.modality) for i in items] == [("slake-11", "Lung", "CT")]
    assert Path(items[0].image).is_file()
    validation = run_convert("slake", root, tmp_path / "v.jsonl", "--split", "validation")
    assert [(i.id, i.modality) for i in validation] == [("slake-21", "MRI")]
    both = run_convert("slake", root, tmp_path / "all.jsonl", "--split", "all")
    assert sorted(i.id for i in both) == ["slake-11", "slake-21"]
    # a file input is taken as is
    assert len(run_convert("slake", root / "test.json", tmp_path / "f.jsonl")) == 1


def test_pathvqa_writes_embedded_images(tmp_path: Path) -> None:
    red, green = png_bytes((255, 0, 0)), png_bytes((0, 255, 0), "JPEG")
    save_image(tmp_path / "hf" / "local.png", (0, 0, 255))
    rows = [
        {"image": {"bytes": base64.b64encode(red).decode(), "path": None},
         "question": "Is this adipose tissue?", "answer": "yes"},
        {"image": {"bytes": list(green), "path": "x.jpg"}, "question": "What is seen?",
         "answer": "fibrosis"},
        {"image": "local.png", "question": "Where?", "answer": "liver"},
        {"image": "local.png", "question": "Train only", "answer": "no", "split": "train"},
    ]  # fmt: skip
    source = tmp_path / "hf" / "test.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "manifests" / "pathvqa.jsonl"
    items = run_convert("pathvqa", source, out)
    assert [i.id for i in items] == [
        "pathvqa-test-00000",
        "pathvqa-test-00001",
        "pathvqa-test-00002",
    ]
    assert Path(items[0].image).read_bytes() == red
    assert Path(items[0].image).parent == (tmp_path / "manifests" / "images" / "pathvqa").resolve()
    assert Path(items[1].image).suffix == ".jpg" and Path(items[1].image).read_bytes() == green
    assert Path(items[2].image) == (tmp_path / "hf" / "local.png").resolve()
    # the manifest stores the written images relative to itself
    assert json.loads(out.read_text().splitlines()[0])["image"].startswith("images/pathvqa/")


def test_pathvqa_folder_input_and_errors(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    row = {"image": base64.b64encode(png_bytes((1, 2, 3))).decode(), "question": "q", "answer": "a"}
    (data / "test-00000.jsonl").write_text(json.dumps(row) + "\n")
    (data / "train-00000.jsonl").write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    images = tmp_path / "written"
    items = run_convert("pathvqa", data, tmp_path / "p.jsonl", "--images-dir", str(images))
    assert len(items) == 1 and Path(items[0].image).parent == images.resolve()
    (data / "test-00000.jsonl").write_text(
        json.dumps({"image": {"bytes": base64.b64encode(b"not an image" * 10).decode()},
                    "question": "q", "answer": "a"}) + "\n"
    )  # fmt: skip
    with pytest.raises(ValueError, match="cannot be decoded"):
        convert("pathvqa", ConvertOptions(input=data, out=tmp_path / "x.jsonl"))


@pytest.mark.skipif(
    importlib.util.find_spec("pyarrow") is not None,
    reason="pyarrow is installed, so parquet is read instead of refused",
)
def test_parquet_without_pyarrow_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "test.parquet").write_bytes(b"PAR1")
    with pytest.raises(ValueError, match=r"needs pyarrow"):
        convert(
            "pathvqa", ConvertOptions(input=tmp_path / "test.parquet", out=tmp_path / "y.jsonl")
        )


def test_pmc_vqa_answer_becomes_the_letter(tmp_path: Path) -> None:
    root = tmp_path / "pmc"
    save_image(root / "images" / "PMC1_fig1.jpg")
    columns = ["index", "Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C",
               "Choice D", "Answer_label"]  # fmt: skip
    rows = [
        ["0", "PMC1_fig1.jpg", "What modality?", "MRI", "A:CT", "B:MRI", "C: X-ray", "D:PET", "B"],
        ["1", "PMC1_fig1.jpg", "Which side?", "C:Right", "A:Left", "B:Both", "C:Right", "D:None",
         ""],
    ]  # fmt: skip
    with (root / "test_2.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(rows)
    items = run_convert("pmc-vqa", root, tmp_path / "pmc.jsonl")
    assert [(i.id, i.answer) for i in items] == [("pmc-vqa-0", "B"), ("pmc-vqa-1", "C")]
    assert items[0].options == {"A": "CT", "B": "MRI", "C": "X-ray", "D": "PET"}
    assert Path(items[0].image).is_file()
    rows[1][3] = "Kidney"
    with (root / "test_2.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([columns, *rows])
    with pytest.raises(ValueError, match=r"row 3: the answer matches no option"):
        convert("pmc-vqa", ConvertOptions(input=root, out=tmp_path / "bad.jsonl"))


def test_medvlthinker_options_images_and_benchmarks(tmp_path: Path) -> None:
    image = base64.b64encode(png_bytes((9, 9, 9))).decode()
    rows = [
        {"question": "Finding?", "options": {"A": "effusion", "B": "normal"}, "answer_label": "A",
         "answer": "effusion", "images": [{"bytes": image, "path": None}],
         "dataset_name": "vqa-rad", "dataset_index": 5},
        {"question": "Modality?", "options": "A. CT\nB. MRI\nC. X-ray", "answer": "MRI",
         "image": image, "dataset_name": "slake", "dataset_index": 5},
        {"question": "Organ?", "options": '{"A": "liver", "B": "spleen"}', "answer_label": "b",
         "image": image, "dataset_name": "slake", "dataset_index": 5},
    ]  # fmt: skip
    source = tmp_path / "eval.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = run_convert("medvlthinker", source, tmp_path / "m.jsonl")
    assert [i.id for i in items] == ["vqa-rad-5", "slake-5", "slake-5-2"]
    assert [i.answer for i in items] == ["A", "B", "B"]
    assert [i.benchmark for i in items] == ["vqa-rad", "slake", "slake"]
    assert items[1].options == {"A": "CT", "B": "MRI", "C": "X-ray"}
    assert all(Image.open(i.image).size == (4, 3) for i in items)
    rows[0]["options"] = []
    source.write_text(json.dumps(rows[0]) + "\n")
    with pytest.raises(ValueError, match="options"):
        convert("medvlthinker", ConvertOptions(input=source, out=tmp_path / "x.jsonl"))


def test_convert_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    args = ["convert", "--format", "slake", "--input", str(missing), "--out", str(tmp_path / "o")]
    assert main(args) == 2
    assert "no such file" in capsys.readouterr().err
    # images that are not there are reported, the manifest is still written
    (tmp_path / "test.json").write_text(
        json.dumps([{"qid": 1, "img_name": "gone.jpg", "question": "q", "answer": "a"}])
    )
    out = tmp_path / "s.jsonl"
    args = [
        "convert",
        "--format",
        "slake",
        "--input",
        str(tmp_path / "test.json"),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert "1 image file(s) not found" in capsys.readouterr().err
    assert out.is_file()
