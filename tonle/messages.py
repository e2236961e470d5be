"""Where every sentence a person reads is looked up (the message catalogue)."""
