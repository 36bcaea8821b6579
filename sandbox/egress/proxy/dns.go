package proxy

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// The proxy answers the workspace's DNS itself: a name the policy may
// allow gets the proxy's own address (A) and no IPv6 one (AAAA: none);
// any other name does not exist. No query leaves the proxy.
const dnsTTL = 1 // seconds: a rule change is seen at once

func (s *Server) serveDNS(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		pc.Close()
		ln.Close()
	}()
	go s.serveDNSTCP(ln)
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if out := s.answer(buf[:n]); out != nil {
			_, _ = pc.WriteTo(out, from)
		}
	}
}

func (s *Server) serveDNSTCP(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			for {
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				var n uint16
				if binary.Read(conn, binary.BigEndian, &n) != nil {
					return
				}
				q := make([]byte, n)
				if _, err := io.ReadFull(conn, q); err != nil {
					return
				}
				out := s.answer(q)
				if out == nil || binary.Write(conn, binary.BigEndian, uint16(len(out))) != nil {
					return
				}
				if _, err := conn.Write(out); err != nil {
					return
				}
			}
		}()
	}
}

// answer is the reply to a query (nil: none, for what is not a query).
func (s *Server) answer(query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil || h.Response {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	resp := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	name := normalName(q.Name.String())
	d := egress.Decision{Reason: "no rule allows it"}
	if h.OpCode == 0 && q.Class == dnsmessage.ClassINET && validName(name) {
		d = s.check().Resolution(name) // a deny rule that holds is named
	}
	ok := d.Allowed
	if !ok {
		resp.RCode = dnsmessage.RCodeNameError
		s.log("dns", name, 0, d, "")
	}
	b := dnsmessage.NewBuilder(nil, resp)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil
	}
	if ok && q.Type == dnsmessage.TypeA {
		a := s.cfg.Listen.As4()
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: dnsTTL}
		if b.AResource(rh, dnsmessage.AResource{A: a}) != nil {
			return nil
		}
		s.log("dns", name, 0, egress.Decision{Allowed: true}, s.cfg.Listen.String())
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// validName says whether name is one a rule could name.
func validName(name string) bool {
	r, err := egress.ParseRule(name)
	return err == nil && r.Host == name
}
