#include "textflag.h"

// entry is the binary's ELF entry point when it is linked with
// -E main.entry (the Makefile does so on linux/amd64). It answers the
// docker CLI's metadata call, `docker-workspace docker-cli-plugin-metadata`,
// before the Go runtime starts: three writes (metadataPrefix, version,
// metadataSuffix) and exit 0, or exit 1 when standard output takes none of
// it. Every other command line, and a version that JSON would not take as
// it is (only a non-empty one of printable ASCII but for " \ < > & is
// written raw; Go's main answers for the others), goes on to the Go runtime's own entry with the
// process as the kernel made it: entry moves no stack pointer and leaves DX
// (the one register the ABI gives a meaning at entry) alone.
TEXT ·entry(SB), NOSPLIT|NOFRAME, $0
	MOVQ	0(SP), AX // argc
	CMPQ	AX, $2
	JNE	run
	MOVQ	16(SP), SI // argv[1], a C string
	MOVQ	·metadataArg(SB), DI
	MOVQ	·metadataArg+8(SB), CX
	XORQ	BX, BX

compare:
	CMPQ	BX, CX
	JEQ	terminated
	MOVB	(SI)(BX*1), AX
	CMPB	AL, (DI)(BX*1)
	JNE	run
	INCQ	BX
	JMP	compare

terminated:
	MOVB	(SI)(BX*1), AX
	CMPB	AL, $0
	JNE	run

	// The version: plain (and not empty, which JSON leaves out), or Go
	// answers.
	MOVQ	·version(SB), SI
	MOVQ	·version+8(SB), CX
	CMPQ	CX, $0
	JEQ	run
	XORQ	BX, BX

plain:
	CMPQ	BX, CX
	JEQ	answer
	MOVBQZX	(SI)(BX*1), AX
	CMPQ	AX, $0x20
	JLT	run
	CMPQ	AX, $0x7e
	JGT	run
	CMPQ	AX, $'"'
	JEQ	run
	CMPQ	AX, $'\\'
	JEQ	run
	CMPQ	AX, $'<'
	JEQ	run
	CMPQ	AX, $'>'
	JEQ	run
	CMPQ	AX, $'&'
	JEQ	run
	INCQ	BX
	JMP	plain

answer:
	MOVQ	·metadataPrefix(SB), R8
	MOVQ	·metadataPrefix+8(SB), R9
	CALL	write<>(SB)
	MOVQ	·version(SB), R8
	MOVQ	·version+8(SB), R9
	CALL	write<>(SB)
	MOVQ	·metadataSuffix(SB), R8
	MOVQ	·metadataSuffix+8(SB), R9
	CALL	write<>(SB)
	MOVQ	$0, DI
	MOVQ	$231, AX // exit_group
	SYSCALL

run:
	XORQ	AX, AX
	XORQ	BX, BX
	XORQ	CX, CX
	XORQ	SI, SI
	XORQ	DI, DI
	JMP	_rt0_amd64_linux(SB)

// write<> writes R9 bytes at R8 to standard output, all of them: a pipe may
// take fewer at a time, a signal may interrupt, a non-blocking one may be
// full (it waits in poll); on any other error, or a write of nothing, it
// exits 1.
TEXT write<>(SB), NOSPLIT|NOFRAME, $0
again:
	CMPQ	R9, $0
	JLE	done
	MOVQ	$1, DI
	MOVQ	R8, SI
	MOVQ	R9, DX
	MOVQ	$1, AX // write
	SYSCALL
	CMPQ	AX, $0
	JLE	failed
	ADDQ	AX, R8
	SUBQ	AX, R9
	JMP	again

done:
	RET

failed:
	CMPQ	AX, $-4 // EINTR
	JEQ	again
	CMPQ	AX, $-11 // EAGAIN
	JNE	exit1
	// poll({fd 1, POLLOUT}, 1, -1), the pollfd below the stack pointer:
	// nothing else runs on this stack yet.
	MOVQ	$0x400000001, AX
	MOVQ	AX, -16(SP)
	LEAQ	-16(SP), DI
	MOVQ	$1, SI
	MOVQ	$-1, DX
	MOVQ	$7, AX // poll
	SYSCALL
	CMPQ	AX, $0
	JGT	again
	CMPQ	AX, $-4 // EINTR
	JEQ	again

exit1:
	MOVQ	$1, DI
	MOVQ	$231, AX // exit_group
	SYSCALL
