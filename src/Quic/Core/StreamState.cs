using OspBridge.Quic.Transport;

namespace OspBridge.Quic.Core;

/// <summary>Per-stream state inside the core (RFC 9000 §2–4): send and receive halves with flow control.</summary>
internal sealed class StreamState
{
    public StreamState(long id, SendBuffer? send, RecvBuffer? recv)
    {
        Id = id;
        Send = send;
        Recv = recv;
    }

    public readonly long Id;
    public readonly SendBuffer? Send;
    public readonly RecvBuffer? Recv;

    public bool IsBidirectional => (Id & 2) == 0;

    // send side
    public ulong PeerMaxStreamData;
    public ulong BlockedSentAt = ulong.MaxValue;
    public bool StreamDataBlockedPending;
    public long? ResetErrorCode;        // we reset our sending side
    public bool ResetPending, ResetAcked;
    public long? PeerStopSendingCode;   // peer asked us to stop
    public bool InSendQueue;
    public bool WantsWritable;

    // receive side
    public ulong LocalMaxStreamData;
    public ulong Window;
    public TimeSpan LastWindowUpdate;
    public bool MaxStreamDataPending;
    public long? PeerResetCode;         // peer reset its sending side
    public ulong PeerFinalSize;
    public ulong PeerFinalSizeForReset;
    public long? StopSendingCode;       // we asked the peer to stop
    public bool StopSendingPending;
    /// <summary>Bytes counted against connection flow control (highest offset received).</summary>
    public ulong CountedRecv;
    /// <summary>
    /// Once the receive side is abandoned (we sent STOP_SENDING or the peer reset it): the stream offset up to which its
    /// bytes have been counted as consumed for connection flow control (nobody will read them).
    /// </summary>
    public ulong AbandonedCredit;
    public bool ReadFinReported;

    /// <summary>
    /// The application's waiting read (empty when none): in-order data that arrives while nothing is buffered is copied
    /// straight into it instead of into the ring and out again. The core only writes into it between
    /// <c>ConnectionCore.StreamRead</c> registering it and the next read or <see cref="ConnectionCore.StreamTakePendingRead"/>.
    /// </summary>
    public Memory<byte> PendingRead;
    /// <summary>Bytes of <see cref="PendingRead"/> already filled (consumed from the stream, not yet returned).</summary>
    public int PendingFilled;

    public bool SendDone => Send is null || Send.AllAcked || ResetAcked;
    public bool RecvDone => Recv is null || Recv.IsFinished && ReadFinReported || PeerResetCode is not null && ReadFinReported || StopSendingCode is not null && (PeerResetCode is not null || Recv.FinalSize is not null);
}
