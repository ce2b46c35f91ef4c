using System.Diagnostics.CodeAnalysis;
using System.Net;
using OspBridge.Crypto;
using OspBridge.Crypto.Tls;
using OspBridge.Net.Core;
using OspBridge.Quic.Protection;
using OspBridge.Quic.Transport;

namespace OspBridge.Quic.Core;

internal enum CoreState { Handshaking, Connected, Closing, Draining, Closed }

/// <summary>
/// Sans-IO QUIC v1 connection (RFC 9000/9001/9002/9221) behind the shared <see cref="IProtocolCore{TEvent}"/>
/// contract: datagrams and <c>now</c> go in through <see cref="Receive"/> and <see cref="HandleDeadline"/>;
/// datagrams (addressed to the peer) come out of <see cref="TryPollTransmit"/>; <see cref="NextDeadline"/> says
/// when to call back; <see cref="TryPollEvent"/> reports what happened. API calls that depend on time take
/// <c>now</c>; randomness comes from <see cref="CoreOptions.Random"/>. Not thread-safe: the driver serializes all calls.
/// </summary>
internal sealed partial class ConnectionCore : IProtocolCore<CoreEvent>
{
    public const int MinInitialDatagram = 1200;

    private readonly CoreOptions _options;
    private readonly IQuicTlsHandshake _tls;
    private readonly PacketSpace[] _spaces = [new(0), new(1), new(2)];
    private readonly RttEstimator _rtt;
    private readonly CongestionController _cc;
    private readonly Queue<CoreEvent> _events = new();
    private readonly Stack<SentPacket> _sentPool = new();

    // connection IDs
    private readonly byte[] _originalDcid;          // client: first DCID it chose; server: client's first DCID (pre-Retry)
    private readonly byte[] _localCid;              // SCID we put in long headers (sequence 0)
    private byte[] _peerCid;                // DCID we send to
    private byte[]? _retrySourceCid;        // server: the SCID of its Retry; client: SCID of the Retry received
    private byte[] _token = [];             // client: Retry token echoed in Initials
    private readonly byte[] _statelessResetKey;

    // addressing: where transmits go (client: the server it dials; server: the client's address from the first datagram)
    private IPEndPoint? _peerAddress;
    private IPEndPoint? _localAddress;

    // the latest `now` seen through any entry point (NextDeadline is a property and has no `now` of its own)
    private TimeSpan _now;

    public ConnectionCore(CoreOptions options, Func<ReadOnlyMemory<byte>, IQuicTlsHandshake> tlsFactory,
        byte[] originalDcid, byte[] localCid, byte[] peerCid, byte[]? retrySourceCid = null, byte[]? initialDcid = null)
    {
        _options = options;
        IsClient = options.IsClient;
        _statelessResetKey = options.StatelessResetKey ?? RandomBytes(options.Random, 32);
        _originalDcid = originalDcid;
        _localCid = localCid;
        _peerCid = peerCid;
        _retrySourceCid = retrySourceCid;
        _rtt = new RttEstimator(options.InitialRtt);
        _cc = new CongestionController(options.MaxDatagramSize, options.CongestionControl);
        _maxDatagram = MinInitialDatagram;
        LocalParameters = BuildLocalParameters();
        _tls = tlsFactory(LocalParameters.Encode());
        var (read, write) = InitialSecrets.CreateKeys(initialDcid ?? (IsClient ? peerCid : originalDcid), IsClient);
        _spaces[0].ReadKeys = read;
        _spaces[0].WriteKeys = write;
        InitConnectionIds();
        InitFlowControl();
        if (!IsClient && retrySourceCid is not null) _addressValidated = true;
        if (IsClient) _addressValidated = true;
    }

    /// <summary>Creates a client core with a random 8-byte initial DCID, sending to <paramref name="remote"/> (null: a connected path).</summary>
    public static ConnectionCore CreateClient(CoreOptions options, Func<ReadOnlyMemory<byte>, IQuicTlsHandshake> tlsFactory, IPEndPoint? remote = null)
    {
        options.IsClient = true;
        var dcid = RandomBytes(options.Random, 8);
        var scid = RandomBytes(options.Random, options.LocalCidLength);
        return new ConnectionCore(options, tlsFactory, dcid, scid, dcid) { _peerAddress = remote };
    }

    internal static byte[] RandomBytes(System.Security.Cryptography.RandomNumberGenerator rng, int length)
    {
        var b = new byte[length];
        rng.GetBytes(b);
        return b;
    }

    /// <summary>The peer's address (null until known, or over a connected path).</summary>
    public IPEndPoint? PeerAddress => _peerAddress;

    private void Advance(TimeSpan now)
    {
        if (now > _now) _now = now;
    }

    public bool IsClient { get; }
    public CoreState State { get; private set; } = CoreState.Handshaking;
    public TransportParameters LocalParameters { get; }
    public TransportParameters? PeerParameters { get; private set; }
    public IQuicTlsHandshake Tls => _tls;
    public bool IsHandshakeConfirmed { get; private set; }
    public byte[] LocalConnectionId => _localCid;
    public byte[] OriginalDestinationConnectionId => _originalDcid;
    public RttEstimator Rtt => _rtt;
    public CongestionController Congestion => _cc;

    /// <summary>Why the connection closed (valid once Closing/Draining/Closed).</summary>
    public QuicException? CloseReason { get; private set; }

    // statistics
    public long PacketsSent, PacketsReceived, PacketsLost, BytesSent, BytesReceived, DatagramsSent;
    /// <summary>Diagnostic counters (frames received, why a send poll stopped); cheap increments, read by the driver.</summary>
    public readonly CoreCounters Counters = new();

    private TransportParameters BuildLocalParameters()
    {
        var p = new TransportParameters
        {
            MaxIdleTimeoutMs = (ulong)_options.IdleTimeout.TotalMilliseconds,
            MaxUdpPayloadSize = (ulong)Math.Max(1200, Math.Max(_options.MaxDatagramSize, _options.MaxUdpPayloadSize)),
            InitialMaxData = _options.InitialMaxData,
            InitialMaxStreamDataBidiLocal = _options.InitialMaxStreamDataBidiLocal,
            InitialMaxStreamDataBidiRemote = _options.InitialMaxStreamDataBidiRemote,
            InitialMaxStreamDataUni = _options.InitialMaxStreamDataUni,
            InitialMaxStreamsBidi = _options.MaxInboundBidiStreams,
            InitialMaxStreamsUni = _options.MaxInboundUniStreams,
            AckDelayExponent = (ulong)_options.AckDelayExponent,
            MaxAckDelayMs = (ulong)_options.MaxAckDelay.TotalMilliseconds,
            ActiveConnectionIdLimit = (ulong)_options.ActiveConnectionIdLimit,
            InitialSourceConnectionId = _localCid,
            MaxDatagramFrameSize = _options.MaxDatagramFrameSize,
            DisableActiveMigration = true,
        };
        if (!IsClient)
        {
            p.OriginalDestinationConnectionId = _originalDcid;
            p.RetrySourceConnectionId = _retrySourceCid;
            if (_localCid.Length > 0)
            {
                p.StatelessResetToken = new byte[16];
                Packets.StatelessReset.ComputeToken(_statelessResetKey, _localCid, p.StatelessResetToken);
            }
        }
        return p;
    }

    /// <summary>Client: starts the handshake (queues the ClientHello).</summary>
    public void Start(TimeSpan now)
    {
        Advance(now);
        StartHandshakeClock(now);
        _idleDeadline = now + HandshakeIdle;
        try
        {
            _tls.Start();
            DrainTls(now);
        }
        catch (CryptoException e) { CloseOnError(TransportErrorCode.CryptoError + e.Alert, e.Message, now); }
    }

    private TimeSpan HandshakeIdle => _options.IdleTimeout > TimeSpan.Zero ? _options.IdleTimeout : TimeSpan.FromSeconds(30);

    /// <inheritdoc/>
    public bool TryPollEvent([MaybeNullWhen(false)] out CoreEvent ev) => _events.TryDequeue(out ev);

    private void Emit(CoreEventKind kind, long streamId = -1, byte[]? cid = null) => _events.Enqueue(new CoreEvent(kind, streamId, cid));

    private SentPacket RentSent()
    {
        var p = _sentPool.Count > 0 ? _sentPool.Pop() : new SentPacket();
        p.Reset();
        return p;
    }

    private void ReturnSent(SentPacket p)
    {
        if (_sentPool.Count < 4096) _sentPool.Push(p);
    }

    // ---- TLS ----

    private void DrainTls(TimeSpan now)
    {
        while (_tls.TryGetOutput(out var o))
        {
            if (PeerParameters is null && !_tls.PeerTransportParameters.IsEmpty) ApplyPeerParameters();
            switch (o.Kind)
            {
                case TlsOutputKind.CryptoData:
                    {
                        var space = _spaces[SpaceIndex(o.Level)];
                        if (!space.Discarded) space.CryptoSend.Write(o.Data.Span);
                        break;
                    }
                case TlsOutputKind.Secret:
                    InstallSecret(o, now);
                    break;
                case TlsOutputKind.HandshakeComplete:
                    OnHandshakeComplete(now);
                    break;
            }
        }
        if (PeerParameters is null && !_tls.PeerTransportParameters.IsEmpty) ApplyPeerParameters();
    }

    private static int SpaceIndex(TlsEncryptionLevel level) => level switch
    {
        TlsEncryptionLevel.Initial => 0,
        TlsEncryptionLevel.Handshake => 1,
        _ => 2,
    };

    private void InstallSecret(TlsOutput o, TimeSpan now)
    {
        var suite = QuicCipherSuite.From(o.CipherSuite);
        var space = _spaces[SpaceIndex(o.Level)];
        var keys = new PacketKeys(suite, o.Data.Span);
        if (o.IsWrite) space.WriteKeys = keys;
        else
        {
            space.ReadKeys = keys;
            if (space.Index == 2) _nextReadKeys = keys.NextPhase();
        }
    }

    private void OnHandshakeComplete(TimeSpan now)
    {
        if (State != CoreState.Handshaking) return;
        State = CoreState.Connected;
        int peerMax = (int)Math.Min(PeerParameters?.MaxUdpPayloadSize ?? 1200, 65527);
        _maxDatagram = Math.Max(MinInitialDatagram, Math.Min(_options.MaxDatagramSize, peerMax));
        int upper = Math.Min(_options.MaxUdpPayloadSize, peerMax);
        if (upper > _maxDatagram) _pmtu = new PathMtuSearch(_maxDatagram, upper);
        if (!IsClient)
        {
            _handshakeDonePending = true;
            ConfirmHandshake(now);
        }
        IssueConnectionIds();
        Emit(CoreEventKind.Connected);
    }

    private void ConfirmHandshake(TimeSpan now)
    {
        if (IsHandshakeConfirmed) return;
        IsHandshakeConfirmed = true;
        DiscardSpace(_spaces[0]);
        DiscardSpace(_spaces[1]);
    }

    private void DiscardSpace(PacketSpace space)
    {
        if (space.Discarded) return;
        space.Discarded = true;
        for (int i = space.SentHead; i < space.Sent.Count; i++)
        {
            var p = space.Sent[i];
            if (!p.Done && p.InFlight) _cc.OnDiscarded(p.Size);
            p.Done = true;
            ReturnSent(p);
        }
        space.Sent.Clear();
        space.SentHead = 0;
        space.AckElicitingInFlight = 0;
        space.LossTime = TimeSpan.MaxValue;
        space.AckNeeded = false;
        space.ProbesPending = 0;
        _ptoCount = 0;
        space.ReleaseKeysAndCrypto();
    }

    private void ApplyPeerParameters()
    {
        var p = TransportParameters.Decode(_tls.PeerTransportParameters.Span, fromServer: IsClient);
        // RFC 9000 §7.3: authenticate connection IDs
        if (p.InitialSourceConnectionId is null || !p.InitialSourceConnectionId.AsSpan().SequenceEqual(_peerInitialScid ?? _peerCid))
            throw QuicException.Transport(TransportErrorCode.TransportParameterError, "initial_source_connection_id mismatch");
        if (IsClient)
        {
            if (p.OriginalDestinationConnectionId is null || !p.OriginalDestinationConnectionId.AsSpan().SequenceEqual(_originalDcid))
                throw QuicException.Transport(TransportErrorCode.TransportParameterError, "original_destination_connection_id mismatch");
            bool retried = _retrySourceCid is not null;
            if (retried != (p.RetrySourceConnectionId is not null)
                || (retried && !p.RetrySourceConnectionId.AsSpan().SequenceEqual(_retrySourceCid)))
                throw QuicException.Transport(TransportErrorCode.TransportParameterError, "retry_source_connection_id mismatch");
            if (p.StatelessResetToken is not null) _peerCids[0] = _peerCids[0] with { ResetToken = p.StatelessResetToken };
        }
        PeerParameters = p;
        ApplyPeerFlowControl(p);
        _peerIdle = TimeSpan.FromMilliseconds(p.MaxIdleTimeoutMs);
    }

    // ---- closing ----

    private TimeSpan _closeDeadline = TimeSpan.MaxValue;
    private bool _closeFramePending;
    private ulong _closeCode;
    private bool _closeIsApp;
    private string _closeReason = "";
    private int _closesSent;

    /// <summary>Closes the connection with an application error code (CONNECTION_CLOSE 0x1d).</summary>
    public void Close(long applicationErrorCode, TimeSpan now, string reason = "")
    {
        Advance(now);
        if (State >= CoreState.Closing) return;
        CloseReason = new QuicException(QuicError.OperationAborted, applicationErrorCode, "connection closed locally");
        EnterClosing((ulong)applicationErrorCode, isApp: true, reason, now);
    }

    private void CloseOnError(TransportErrorCode code, string reason, TimeSpan now)
    {
        if (State >= CoreState.Closing) return;
        CloseReason = QuicException.Transport(code, "QUIC transport error " + code + ": " + reason);
        EnterClosing((ulong)code, isApp: false, reason, now);
    }

    private void EnterClosing(ulong code, bool isApp, string reason, TimeSpan now)
    {
        State = CoreState.Closing;
        _closeCode = code;
        _closeIsApp = isApp;
        _closeReason = reason;
        _closeFramePending = true;
        _closeDeadline = now + 3 * PtoDuration(2);
        FailAllStreams();
    }

    private void EnterDraining(QuicException reason, TimeSpan now)
    {
        if (State >= CoreState.Draining) return;
        CloseReason ??= reason;
        State = CoreState.Draining;
        _closeFramePending = false;
        _closeDeadline = now + 3 * PtoDuration(2);
        FailAllStreams();
    }

    private void SetClosed()
    {
        if (State == CoreState.Closed) return;
        State = CoreState.Closed;
        CloseReason ??= new QuicException(QuicError.OperationAborted, null, "connection closed");
        // Closed is final (nothing is sent or decrypted any more): free the AEAD/header-protection contexts now rather
        // than at finalization, so an abandoned handshake's native crypto state goes when the handshake does (issue 9).
        foreach (var space in _spaces) space.ReleaseKeysAndCrypto();
        _nextReadKeys?.Dispose();
        _prevReadKeys?.Dispose();
        _nextReadKeys = _prevReadKeys = null;
        Emit(CoreEventKind.Closed);
    }

    /// <summary>Immediately drops all state (used on dispose).</summary>
    public void Abandon()
    {
        FailAllStreams();
        SetClosed();
    }
}

internal sealed partial class ConnectionCore
{
    /// <summary>For tests: whether the server considers the client's address validated.</summary>
    internal bool IsAddressValidatedForTests => _addressValidated;
}

internal sealed partial class ConnectionCore
{
    /// <summary>Queues a PING (keep-alive, or a caller's liveness probe).</summary>
    public void SendPing() => _spaces[2].ProbesPending = Math.Max(_spaces[2].ProbesPending, 1);

    internal int SentRecordCountForTests => _spaces[2].Sent.Count - _spaces[2].SentHead;

    /// <summary>True when an inbound stream waits in the accept queue.</summary>
    public bool HasAcceptableStream => _acceptQueue.Count > 0;
}
