#include "textflag.h"

// entry is the binary's ELF entry point when it is linked with
// -E main.entry (the Makefile does so on linux/amd64). It answers the
// docker CLI's metadata call, `docker-workspace docker-cli-plugin-metadata`,
// before the Go runtime starts: three writes (metadataPrefix, version,
// metadataSuffix) and exit 0. Every other command line goes on to the Go
// runtime's own entry with the process as the kernel made it: entry moves no
// stack pointer and leaves DX (the one register the ABI gives a meaning at
// entry) alone.
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
	MOVQ	·metadataPrefix(SB), SI
	MOVQ	·metadataPrefix+8(SB), DX
	CALL	write(SB)
	MOVQ	·version(SB), SI
	MOVQ	·version+8(SB), DX
	CALL	write(SB)
	MOVQ	·metadataSuffix(SB), SI
	MOVQ	·metadataSuffix+8(SB), DX
	CALL	write(SB)
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

// write writes DX bytes at SI to standard output, all of them (a pipe may
// take fewer at a time); on an error it exits 1.
TEXT write(SB), NOSPLIT|NOFRAME, $0
again:
	CMPQ	DX, $0
	JLE	done
	MOVQ	$1, DI
	MOVQ	$1, AX // write
	SYSCALL
	CMPQ	AX, $0
	JLT	failed
	ADDQ	AX, SI
	SUBQ	AX, DX
	JMP	again

done:
	RET

failed:
	CMPQ	AX, $-4 // EINTR
	JEQ	again
	MOVQ	$1, DI
	MOVQ	$231, AX // exit_group
	SYSCALL
