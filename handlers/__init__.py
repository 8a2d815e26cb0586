"""One module per channel: verify, decrypt and parse callbacks into Messages; render Decisions back."""
