package bot

import (
	"context"
	"errors"
	"sync"
)

// The threads the core answers in besides the adapters' own: a requester's
// DMs where no thread can be reopened, and a thread whose opening post is
// still on its way (so WeChat is not kept waiting for Slack).

// reopen is the thread at ref, or, where there is none, the requester's DMs.
func (b *Bot) reopen(ref ThreadRef, requester string) Thread {
	if ref.Channel == "" {
		return dmThread{b: b, user: requester}
	}
	return b.o.Messenger.Reopen(ref)
}

// dmThread answers by DM where no thread can be reopened.
type dmThread struct {
	b    *Bot
	user string
}

func (t dmThread) Reply(ctx context.Context, text string) error { return t.b.tell(ctx, t.user, text) }
func (t dmThread) Attach(context.Context, File) error           { return ErrCannotAttach }
func (t dmThread) Update(context.Context, string) error         { return nil } // the reply said it all
func (t dmThread) Ref() ThreadRef                               { return ThreadRef{} }

// pendingThread is a thread being opened (its status message, or its first
// reply, in flight) while WeChat is already called. Everything done with it
// waits for the opening, so the thread reads in order. An opening that
// failed without a thread sends replies to the requester privately (conv);
// its error, with or without a thread, is kept for opened.
type pendingThread struct {
	ready chan struct{}
	t     Thread
	err   error
	conv  Conversation // where replies go if the thread could not be opened; nil: nowhere
}

// openThread starts open in the background and returns its thread at once.
func openThread(conv Conversation, open func() (Thread, error)) *pendingThread {
	p := &pendingThread{ready: make(chan struct{}), conv: conv}
	go func() {
		defer close(p.ready)
		p.t, p.err = open()
	}()
	return p
}

// wait returns the opened thread, or nil if there is none.
func (p *pendingThread) wait() Thread {
	<-p.ready
	return p.t
}

// opened reports, once the opening is over, whether it failed and why.
func (p *pendingThread) opened() error {
	<-p.ready
	return p.err
}

func (p *pendingThread) Reply(ctx context.Context, text string) error {
	if t := p.wait(); t != nil {
		return t.Reply(ctx, text)
	}
	if p.conv == nil {
		return p.err
	}
	return p.conv.Private(ctx, text)
}

func (p *pendingThread) Attach(ctx context.Context, f File) error {
	if t := p.wait(); t != nil {
		return t.Attach(ctx, f)
	}
	return ErrCannotAttach
}

func (p *pendingThread) Update(ctx context.Context, text string) error {
	if t := p.wait(); t != nil {
		return t.Update(ctx, text)
	}
	return nil // no status message to update: the private reply said it all
}

func (p *pendingThread) Ref() ThreadRef {
	if t := p.wait(); t != nil {
		return t.Ref()
	}
	return ThreadRef{}
}

// inParallel runs steps concurrently and joins their errors.
func inParallel(steps ...func() error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(steps))
	for i, step := range steps {
		wg.Go(func() { errs[i] = step() })
	}
	wg.Wait()
	return errors.Join(errs...)
}
