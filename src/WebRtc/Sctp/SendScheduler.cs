namespace OspBridge.WebRtc.Sctp;

/// <summary>
/// Round-robin between streams, one whole message at a time (without I-DATA the fragments of a message need
/// consecutive TSNs, so messages cannot interleave). Keeps each stream's messages in order; a bulk transfer on one
/// data channel no longer holds back every other channel until its whole queue has drained.
/// </summary>
internal sealed class SendScheduler
{
    private readonly Queue<OutgoingMessage>?[] _queues;
    private readonly bool[] _isActive;
    private readonly Queue<ushort> _active = new();
    private OutgoingMessage? _current;

    public SendScheduler(int streams)
    {
        _queues = new Queue<OutgoingMessage>?[streams];
        _isActive = new bool[streams];
    }

    /// <summary>Messages not yet fully given TSNs (the one being fragmented included).</summary>
    public int Count { get; private set; }

    public void Enqueue(OutgoingMessage m)
    {
        (_queues[m.Stream] ??= new Queue<OutgoingMessage>()).Enqueue(m);
        Count++;
        if (!_isActive[m.Stream])
        {
            _isActive[m.Stream] = true;
            _active.Enqueue(m.Stream);
        }
    }

    /// <summary>The message to send from next: the one being fragmented, else the head of the next stream in turn.</summary>
    public OutgoingMessage? Peek()
    {
        if (_current is not null)
        {
            return _current;
        }
        while (_active.TryDequeue(out var s))
        {
            var q = _queues[s]!;
            if (q.TryDequeue(out var m))
            {
                if (q.Count > 0)
                {
                    _active.Enqueue(s);
                }
                else
                {
                    _isActive[s] = false;
                }
                _current = m;
                return m;
            }
            _isActive[s] = false;
        }
        return null;
    }

    /// <summary>The message returned by <see cref="Peek"/> is finished (all bytes have TSNs, or it was abandoned).</summary>
    public void RemoveCurrent()
    {
        _current = null;
        Count--;
    }

    /// <summary>Empties every queue, handing each message to <paramref name="release"/>.</summary>
    public void Clear(Action<OutgoingMessage> release)
    {
        if (_current is { } c)
        {
            release(c);
            _current = null;
        }
        foreach (var q in _queues)
        {
            while (q is not null && q.TryDequeue(out var m))
            {
                release(m);
            }
        }
        _active.Clear();
        Array.Clear(_isActive);
        Count = 0;
    }
}
