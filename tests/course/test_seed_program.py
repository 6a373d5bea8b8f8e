"""Chapters 05-10 and 14: the seed book's Keras program (sections 5.1-5.6) runs on nnlib.

The program below is the seed's, line for line (epochs included), with only
these changes: the imports (nnlib instead of scikit-learn/TensorFlow),
``data.csv`` made from the shipped table with a few values removed, and a
``model.save('pretrained_model.h5')`` before 5.5, which loads that file but
never says where it came from.
"""
import numpy as np
import pandas as pd
import pytest

import nnlib
from nnlib.datasets import breast_cancer_csv_path

EPOCHS_5_3 = 50  # as in the seed
EPOCHS_5_5 = 10  # as in the seed


@pytest.fixture
def seed_folder(tmp_path, monkeypatch):
    """A working folder holding data.csv: the shipped table with a few values removed (so dropna has work)."""
    frame = pd.read_csv(breast_cancer_csv_path())
    rng = np.random.default_rng(0)
    rows = rng.choice(len(frame), size=6, replace=False)
    for i, row in enumerate(rows):
        frame.iloc[row, i % 30] = np.nan
    frame.to_csv(tmp_path / "data.csv", index=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_seed_program_runs_with_only_imports_changed(seed_folder, capsys):
    nnlib.manual_seed(42)

    # ---- 5.1 数据预处理 -------------------------------------------------------
    import numpy as np  # noqa: F811
    import pandas as pd  # noqa: F811
    from nnlib.data import train_test_split
    from nnlib.data import StandardScaler

    # 加载数据
    data = pd.read_csv('data.csv')

    # 数据清洗
    data = data.dropna()

    # 特征和标签分离
    X = data.drop('label', axis=1)
    y = data['label']

    # 数据分割
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)

    # 数据归一化
    scaler = StandardScaler()
    X_train = scaler.fit_transform(X_train)
    X_test = scaler.transform(X_test)

    # ---- 5.2 模型构建 ---------------------------------------------------------
    from nnlib.models import Sequential
    from nnlib.layers import Dense

    # 构建模型
    model = Sequential([
        Dense(64, activation='relu', input_shape=(X_train.shape[1],)),
        Dense(64, activation='relu'),
        Dense(1, activation='sigmoid')
    ])

    # 编译模型
    model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])

    # ---- 5.3 模型训练 ---------------------------------------------------------
    # 训练模型
    history = model.fit(X_train, y_train, epochs=EPOCHS_5_3, batch_size=32, validation_split=0.2)

    # ---- 5.4 模型评估 ---------------------------------------------------------
    # 评估模型
    loss, accuracy = model.evaluate(X_test, y_test)
    print(f'Loss: {loss}, Accuracy: {accuracy}')

    assert len(data) == 563  # 569 rows, 6 with a missing value
    assert X_train.shape == (450, 30) and X_test.shape == (113, 30)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == EPOCHS_5_3 for v in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy > 0.9 and loss < 0.3
    assert f"Loss: {loss}, Accuracy: {accuracy}" in capsys.readouterr().out

    model.save('pretrained_model.h5')  # the file section 5.5 starts from

    # ---- 5.5 模型微调 ---------------------------------------------------------
    from nnlib.models import load_model

    # 加载预训练模型
    pretrained_model = load_model('pretrained_model.h5')

    # 冻结部分层
    for layer in pretrained_model.layers[:-2]:
        layer.trainable = False

    # 添加新层
    pretrained_model.add(Dense(64, activation='relu'))
    pretrained_model.add(Dense(1, activation='sigmoid'))

    # 编译模型
    pretrained_model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])

    frozen = pretrained_model.layers[0].get_weights()
    # 微调模型
    history = pretrained_model.fit(X_train, y_train, epochs=EPOCHS_5_5, batch_size=32, validation_split=0.2)

    assert len(pretrained_model.layers) == 5
    assert [layer.trainable for layer in pretrained_model.layers] == [False, True, True, True, True]
    for before, after in zip(frozen, pretrained_model.layers[0].get_weights()):
        np.testing.assert_array_equal(before, after)  # the frozen layer did not move
    assert len(history.history["loss"]) == EPOCHS_5_5
    # the new head sits after the old sigmoid output, so it learns slowly: 10 epochs lower the loss,
    # and accuracy recovers (> 0.95) only after about 20 (chapter 10 compares with replacing the head)
    assert history.history["loss"][-1] < history.history["loss"][0]

    # ---- 5.6 模型部署 ---------------------------------------------------------
    # 保存模型
    model.save('final_model.h5')

    # 加载模型
    deployed_model = load_model('final_model.h5')

    # 预测
    predictions = deployed_model.predict(X_test)

    np.testing.assert_array_equal(predictions, model.predict(X_test, verbose=0))
    assert predictions.shape == (113, 1) and predictions.dtype == np.float32
    assert np.mean((predictions[:, 0] > 0.5) == y_test.to_numpy()) == pytest.approx(accuracy)
    assert sorted(p.name for p in seed_folder.iterdir()) == ["data.csv", "final_model.h5", "pretrained_model.h5"]

