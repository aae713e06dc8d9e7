"""Multilingual text towers (M-CLIP: XLM-R + a linear projection into a CLIP image tower's space),
as Immich exports them: the text tower takes input_ids + attention_mask (padded to the context
length) and mean-pools over the mask; the image tower is the paired CLIP's."""

from __future__ import annotations

from typing import Any

from numpy.typing import NDArray

from pixseek.analyzers.vlm.base import ModelFolderError
from pixseek.analyzers.vlm.clip import ClipModel
from pixseek.analyzers.vlm.layout import ModelLayout, Tower
from pixseek.analyzers.vlm.tokenize import Tokens

TEXT_INPUTS = frozenset({"input_ids", "attention_mask"})


class MultilingualClipModel(ClipModel):
    family = "mclip"

    @classmethod
    def recognises(cls, layout: ModelLayout, text_inputs: set[str]) -> bool:
        return text_inputs == TEXT_INPUTS

    def text_feeds(self, tokens: Tokens) -> dict[str, NDArray[Any]]:
        return {"input_ids": tokens.ids, "attention_mask": tokens.attention_mask}

    def _check_text_inputs(self, textual: Tower) -> None:
        if set(textual.inputs) != TEXT_INPUTS:
            raise ModelFolderError(f"{textual.path}: a multilingual text tower takes input_ids and attention_mask")

    def _multilingual(self) -> bool:
        flag = self._layout.config.get("multilingual")
        return flag if isinstance(flag, bool) else True
