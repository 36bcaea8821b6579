package main

// entry is in entry_linux_amd64.s.
func entry()
