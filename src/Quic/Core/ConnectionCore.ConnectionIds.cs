using OspBridge.Quic.Frames;
using OspBridge.Quic.Internal;
using OspBridge.Quic.Packets;

namespace OspBridge.Quic.Core;

internal readonly record struct PeerCid(ulong Sequence, byte[] Cid, byte[]? ResetToken);

/// <summary>Connection ID management (RFC 9000 §5.1): issuing, retiring, NEW_CONNECTION_ID / RETIRE_CONNECTION_ID.</summary>
internal sealed partial class ConnectionCore
{
    private readonly List<PeerCid> _peerCids = new();
    private readonly List<(ulong Seq, byte[] Cid, byte[] Token)> _localCids = new();
    private readonly List<ulong> _newCidPending = new();
    private readonly List<ulong> _retirePending = new();
    private bool _cidFramesPending;
    private ulong _nextLocalCidSeq = 1;
    private ulong _peerRetirePriorTo;

    /// <summary>All connection IDs currently issued by us (for listener routing).</summary>
    public IEnumerable<byte[]> LocalConnectionIds
    {
        get
        {
            yield return _localCid;
            foreach (var c in _localCids) yield return c.Cid;
        }
    }

    private void InitConnectionIds()
    {
        _peerCids.Add(new PeerCid(0, _peerCid, null));
    }

    private void IssueConnectionIds()
    {
        if (_localCid.Length == 0) return; // zero-length CIDs: nothing to issue
        ulong peerLimit = PeerParameters?.ActiveConnectionIdLimit ?? 2;
        int target = (int)Math.Min(peerLimit, 4UL) - 1;
        while (_localCids.Count < target)
        {
            var cid = RandomBytes(_options.Random, _localCid.Length);
            var token = new byte[16];
            StatelessReset.ComputeToken(_statelessResetKey, cid, token);
            ulong seq = _nextLocalCidSeq++;
            _localCids.Add((seq, cid, token));
            _newCidPending.Add(seq);
            _cidFramesPending = true;
            Emit(CoreEventKind.ConnectionIdIssued, cid: cid);
        }
    }

    private void OnNewConnectionIdLost(ulong seq)
    {
        foreach (var c in _localCids) if (c.Seq == seq) { _newCidPending.Add(seq); _cidFramesPending = true; }
    }

    private void OnNewConnectionId(in NewConnectionIdFrame f)
    {
        if (_peerCid.Length == 0) throw QuicException.Transport(TransportErrorCode.ProtocolViolation, "NEW_CONNECTION_ID from a peer using zero-length CIDs");
        foreach (var c in _peerCids)
        {
            if (c.Sequence == f.SequenceNumber)
            {
                if (!c.Cid.AsSpan().SequenceEqual(f.ConnectionId)) throw QuicException.Transport(TransportErrorCode.ProtocolViolation, "connection ID sequence reused");
                return;
            }
        }
        if (f.SequenceNumber < _peerRetirePriorTo)
        {
            _retirePending.Add(f.SequenceNumber); _cidFramesPending = true;
            return;
        }
        _peerCids.Add(new PeerCid(f.SequenceNumber, f.ConnectionId.ToArray(), f.StatelessResetToken.ToArray()));
        if (f.RetirePriorTo > _peerRetirePriorTo)
        {
            _peerRetirePriorTo = f.RetirePriorTo;
            for (int i = _peerCids.Count - 1; i >= 0; i--)
            {
                if (_peerCids[i].Sequence < _peerRetirePriorTo)
                {
                    _retirePending.Add(_peerCids[i].Sequence);
                    _peerCids.RemoveAt(i);
                    _cidFramesPending = true;
                }
            }
            if (_peerCids.Count > 0)
            {
                var lowest = _peerCids[0];
                foreach (var c in _peerCids) if (c.Sequence < lowest.Sequence) lowest = c;
                _peerCid = lowest.Cid;
            }
        }
        if (_peerCids.Count > _options.ActiveConnectionIdLimit)
            throw QuicException.Transport(TransportErrorCode.ConnectionIdLimitError, "too many connection IDs");
    }

    private void OnRetireConnectionId(ulong seq)
    {
        if (_localCid.Length == 0 || seq >= _nextLocalCidSeq) throw QuicException.Transport(TransportErrorCode.ProtocolViolation, "RETIRE_CONNECTION_ID for an unknown sequence");
        for (int i = 0; i < _localCids.Count; i++)
        {
            if (_localCids[i].Seq == seq)
            {
                Emit(CoreEventKind.ConnectionIdRetired, cid: _localCids[i].Cid);
                _localCids.RemoveAt(i);
                IssueConnectionIds();
                return;
            }
        }
    }

    private void WriteConnectionIdFrames(ref QuicWriter w, SentPacket rec)
    {
        for (int i = _newCidPending.Count - 1; i >= 0; i--)
        {
            ulong seq = _newCidPending[i];
            int idx = _localCids.FindIndex(c => c.Seq == seq);
            if (idx < 0) { _newCidPending.RemoveAt(i); continue; }
            var c = _localCids[idx];
            if (!new NewConnectionIdFrame { SequenceNumber = c.Seq, RetirePriorTo = 0, ConnectionId = c.Cid, StatelessResetToken = c.Token }.TryWrite(ref w)) return;
            _newCidPending.RemoveAt(i);
            rec.AckEliciting = true;
            rec.Frames.Add(new SentFrame { Kind = SentFrameKind.NewConnectionId, Offset = seq });
        }
        for (int i = _retirePending.Count - 1; i >= 0; i--)
        {
            if (!new RetireConnectionIdFrame { SequenceNumber = _retirePending[i] }.TryWrite(ref w)) return;
            rec.AckEliciting = true;
            rec.Frames.Add(new SentFrame { Kind = SentFrameKind.RetireConnectionId, Offset = _retirePending[i] });
            _retirePending.RemoveAt(i);
        }
        _cidFramesPending = false;
    }
}
