"""Server-side SVG charts."""

from web import charts


def test_histogram_counts_and_escapes_title():
    svg = charts.accuracy_histogram([0.1, 0.95, 0.97, 1.0], title="<b>acc</b>")
    assert svg.startswith("<svg") and "&lt;b&gt;acc&lt;/b&gt;" in svg
    assert "90%–100%: 3" in svg


def test_histogram_of_nothing_is_still_a_picture():
    assert charts.accuracy_histogram([]).startswith("<svg")


def test_confusion_matrix_marks_the_diagonal():
    svg = charts.confusion_matrix([[5, 1], [0, 6]], labels=["<a>", "b"])
    assert "true &lt;a&gt;, predicted b: 1" in svg
    assert svg.count('stroke="#16a34a"') == 2
    assert charts.confusion_matrix([]) == ""


def test_training_curves_draw_train_and_validation():
    svg = charts.training_curves(
        {"loss": [1, 0.5], "val_loss": [1.2, 0.7], "accuracy": [0.5, 0.9], "lr": "x"}
    )
    assert svg.count("<polyline") == 3 and "stroke-dasharray" in svg
    assert charts.training_curves({"loss": []}) == ""
