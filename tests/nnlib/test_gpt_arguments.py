"""Chapter 12: GPT.generate refuses bad arguments with a clear error."""

import numpy as np
import pytest

from tests.nnlib.saving.hostile import small_gpt


def test_generate_argument_errors():
    gpt = small_gpt()
    ids = np.array([1, 2, 3])
    with pytest.raises(TypeError, match="max_new_tokens must be an integer"):
        gpt.generate(ids, 2.5)
    with pytest.raises(TypeError, match="max_new_tokens must be an integer"):
        gpt.generate(ids, True)
    with pytest.raises(ValueError, match="stop_token .* outside the vocabulary"):
        gpt.generate(ids, 3, stop_token=12)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        gpt.generate(ids, 3, stop_token=[1, -1])
    with pytest.raises(TypeError, match="stop_token must be a token id"):
        gpt.generate(ids, 3, stop_token=1.5)
    assert gpt.generate(ids, np.int64(2), temperature=0).shape == (5,)
