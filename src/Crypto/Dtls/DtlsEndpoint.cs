using System.Buffers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OspBridge.Crypto.Dtls;

/// <summary>
/// A sans-IO DTLS 1.2 endpoint (RFC 6347 over the RFC 5246 handshake) for WebRTC: ECDHE-ECDSA with AES-GCM on
/// P-256, extended master secret, mutual certificate authentication checked against SDP fingerprints, use_srtp and
/// keying-material export. Speaks the verbs of the one core contract (OspBridge.Net's <c>IProtocolCore</c>) without
/// naming it, so that Crypto depends on nothing of ours: feed it datagrams with <see cref="Receive(ReadOnlySpan{byte}, TimeSpan)"/>
/// and time with <see cref="HandleDeadline"/> at <see cref="NextDeadline"/>; drain <see cref="TryPollTransmit"/> and
/// <see cref="TryPollEvent"/>. Every datagram goes on the connected pair (DTLS runs over the selected ICE pair), so
/// there is no path in or out. Not thread-safe: use from one serialized loop.
/// </summary>
/// <remarks>
/// Invalid records (bad header, unknown epoch, failed authentication, replays) are dropped silently
/// (RFC 6347 §4.1.2.7), and so are unauthenticated (epoch-0) alerts. When the endpoint fails (a fatal handshake error, a fatal alert from the peer, or
/// retransmissions exhausted) nothing is thrown: the fatal alert to send is queued as a transmit,
/// <see cref="State"/> becomes <see cref="DtlsState.Failed"/>, <see cref="Error"/> holds the reason and a
/// <see cref="DtlsEventKind.StateChanged"/> event carries it. <see cref="CryptoException"/> is thrown only for caller
/// errors (sending before connected, a buffer too small, bad options).
/// </remarks>
public sealed partial class DtlsEndpoint : IDisposable
{
    private const int MaxStashedRecords = 32;

    private readonly DtlsOptions _opt;
    private const int MaxQueuedEvents = 64; // state changes are few; alerts beyond this are dropped (peer-controlled)

    private readonly Queue<byte[]> _out = new();
    private readonly Queue<DtlsEvent> _events = new();
    private bool _appEventPending;
    private DtlsState _state;
    private readonly Queue<(byte[] Buffer, int Length)> _appIn = new(); // pooled buffers, returned when read
    private readonly byte[] _scratch = new byte[DtlsRecordHeader.MaxFragmentLength];

    // record layer
    private ushort _writeEpoch;
    private readonly ulong[] _writeSeq = new ulong[2];
    private DtlsAeadCipher? _writeCipher;
    private DtlsAeadCipher? _readCipher;
    private ReplayWindow _replay;
    private List<byte[]> _stash = [];
    private bool _closeNotifySent;

    /// <summary>Creates an endpoint; nothing is sent until <see cref="Start"/> (client) or the first datagram (server).</summary>
    public DtlsEndpoint(DtlsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _opt = options;
        if (options.Certificate is null)
            throw new CryptoException(CryptoError.InvalidState, "DTLS: a certificate with an ECDSA P-256 private key is required");
        _signingKey = options.Certificate.GetECDsaPrivateKey()
            ?? throw new CryptoException(CryptoError.InvalidState, "DTLS: the certificate has no ECDSA private key");
        if (_signingKey.KeySize != 256)
            throw new CryptoException(CryptoError.InvalidState, "DTLS: the certificate key must be ECDSA P-256");
        if (options.Mtu < 256 || options.Mtu > 65_000)
            throw new CryptoException(CryptoError.InvalidState, "DTLS: MTU must be within 256..65000");
        if (options.CipherSuites.Count == 0)
            throw new CryptoException(CryptoError.InvalidState, "DTLS: no cipher suite configured");
        _rto = options.InitialRetransmitTimeout;
        ArgumentNullException.ThrowIfNull(options.Random);
        _cookieSecret = new byte[32];
        options.Random.GetBytes(_cookieSecret);
    }

    /// <summary>True for the client role.</summary>
    public bool IsClient => _opt.IsClient;

    /// <summary>Current lifecycle state (every change is also reported as a <see cref="DtlsEventKind.StateChanged"/> event).</summary>
    public DtlsState State
    {
        get => _state;
        private set
        {
            if (_state == value) return;
            _state = value;
            _events.Enqueue(new DtlsEvent(DtlsEventKind.StateChanged, value, value == DtlsState.Failed ? Error : null));
        }
    }

    /// <summary>Why the endpoint failed (null unless <see cref="State"/> is <see cref="DtlsState.Failed"/>).</summary>
    public CryptoException? Error { get; private set; }

    /// <summary>The peer's end-entity certificate once received and accepted.</summary>
    public X509Certificate2? PeerCertificate { get; private set; }

    /// <summary>The negotiated SRTP protection profile (null when use_srtp was not negotiated).</summary>
    public SrtpProtectionProfile? SelectedSrtpProfile { get; private set; }

    /// <summary>The negotiated cipher suite (null before the ServerHello).</summary>
    public DtlsCipherSuite? CipherSuite { get; private set; }

    /// <summary>When <see cref="HandleDeadline"/> must be called next (null: no timer running).</summary>
    public TimeSpan? NextDeadline => _retransmitAt;

    /// <summary>Largest application payload one <see cref="Send"/> accepts (one record, 2^14 bytes).</summary>
    public const int MaxApplicationDataSize = 1 << 14;

    /// <summary>RFC 7983 demultiplexing: true when the first byte of a datagram is in 20..63 (DTLS).</summary>
    public static bool IsDtlsDatagram(ReadOnlySpan<byte> datagram) => datagram.Length > 0 && datagram[0] is >= 20 and <= 63;

    /// <summary>Starts the handshake: the client queues its ClientHello; the server starts waiting for one.</summary>
    public void Start(TimeSpan now)
    {
        if (State != DtlsState.New) return;
        State = DtlsState.Connecting;
        if (IsClient) ClientStart(now);
        else _hs = Hs.ServerWaitClientHello;
    }

    /// <summary>
    /// Processes one received datagram (one or more records) from the connected pair. Never throws for network
    /// input: a failure is reported through <see cref="State"/>, <see cref="Error"/> and a
    /// <see cref="DtlsEventKind.StateChanged"/> event.
    /// </summary>
    public void Receive(ReadOnlySpan<byte> datagram, TimeSpan now)
    {
        if (State == DtlsState.New && !IsClient) Start(now);
        if (State is not (DtlsState.Connecting or DtlsState.Connected)) return;
        try
        {
            while (datagram.Length > 0 && State is DtlsState.Connecting or DtlsState.Connected)
            {
                if (!DtlsRecordHeader.TryRead(datagram, out var h)) break; // garbage: drop the rest of the datagram
                var fragment = datagram.Slice(DtlsRecordHeader.Size, h.Length);
                ProcessRecord(h, fragment, datagram[..(DtlsRecordHeader.Size + h.Length)], now);
                datagram = datagram[(DtlsRecordHeader.Size + h.Length)..];
                if (_readCipher is not null && _stash.Count > 0) DrainStash(now);
            }
        }
        catch (CryptoException ex)
        {
            FailWith(ex);
        }
        catch (CryptographicException ex)
        {
            FailWith(new CryptoException(CryptoError.InternalError, "DTLS: crypto failure: " + ex.Message, TlsAlert.InternalError, ex));
        }
    }

    /// <summary>Runs due retransmissions; call at or after <see cref="NextDeadline"/>. When retransmissions are exhausted
    /// the endpoint fails (reported as for <see cref="Receive(ReadOnlySpan{byte}, TimeSpan)"/>).</summary>
    public void HandleDeadline(TimeSpan now)
    {
        if (_retransmitAt is not { } due || now < due || State != DtlsState.Connecting) return;
        if (_retransmits >= _opt.MaxRetransmissions)
        {
            var ex = new CryptoException(CryptoError.HandshakeFailure, $"DTLS: handshake timed out after {_retransmits} retransmissions", 0);
            _retransmitAt = null;
            FailWith(ex, sendAlert: false);
            return;
        }
        _retransmits++;
        _rto = TimeSpan.FromTicks(Math.Min(_rto.Ticks * 2, _opt.MaxRetransmitTimeout.Ticks));
        TransmitFlight(now);
        _retransmitAt = now + _rto;
    }

    /// <summary>
    /// Copies the next datagram to send into <paramref name="destination"/>; <paramref name="length"/> is its length
    /// (send it on the connected pair). Handshake datagrams are at most
    /// <see cref="DtlsOptions.Mtu"/> bytes; a datagram from <see cref="Send"/> is its payload plus <see cref="ApplicationDataOverhead"/>.
    /// </summary>
    /// <exception cref="CryptoException"><paramref name="destination"/> is smaller than the next datagram (it stays queued).</exception>
    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out int length)
    {
        length = 0;
        if (!_out.TryPeek(out var d)) return false;
        if (destination.Length < d.Length)
            throw new CryptoException(CryptoError.LimitExceeded, $"DTLS: datagram of {d.Length} bytes does not fit the buffer");
        _out.Dequeue();
        d.CopyTo(destination);
        length = d.Length;
        return true;
    }

    /// <summary>Dequeues the next event (state change, application data available, alert received).</summary>
    public bool TryPollEvent(out DtlsEvent ev)
    {
        if (!_events.TryDequeue(out ev)) return false;
        if (ev.Kind == DtlsEventKind.ApplicationDataAvailable) _appEventPending = false;
        return true;
    }

    /// <summary>Encrypts <paramref name="applicationData"/> into one record and queues it as one datagram.</summary>
    /// <exception cref="CryptoException">Not connected (<see cref="CryptoError.InvalidState"/>) or larger than <see cref="MaxApplicationDataSize"/>.</exception>
    public void Send(ReadOnlySpan<byte> applicationData)
    {
        if (State != DtlsState.Connected)
            throw new CryptoException(CryptoError.InvalidState, "DTLS: not connected");
        if (applicationData.Length > MaxApplicationDataSize)
            throw new CryptoException(CryptoError.LimitExceeded, "DTLS: application data larger than one record");
        var dg = new byte[DtlsRecordHeader.Size + DtlsAeadCipher.Overhead + applicationData.Length];
        WriteRecord(dg, TlsContentType.ApplicationData, 1, applicationData);
        _out.Enqueue(dg);
    }

    /// <summary>
    /// Zero-allocation variant of <see cref="Send"/>: seals <paramref name="applicationData"/> as one record directly into
    /// <paramref name="destination"/> (which must hold <c>applicationData.Length + </c><see cref="ApplicationDataOverhead"/>
    /// bytes) and returns the datagram length. Nothing is queued; the caller sends the bytes.
    /// </summary>
    public int SealApplicationData(ReadOnlySpan<byte> applicationData, Span<byte> destination)
    {
        if (State != DtlsState.Connected)
            throw new CryptoException(CryptoError.InvalidState, "DTLS: not connected");
        if (applicationData.Length > MaxApplicationDataSize)
            throw new CryptoException(CryptoError.LimitExceeded, "DTLS: application data larger than one record");
        if (destination.Length < applicationData.Length + ApplicationDataOverhead)
            throw new CryptoException(CryptoError.LimitExceeded, "DTLS: destination buffer too small");
        return WriteRecord(destination, TlsContentType.ApplicationData, 1, applicationData);
    }

    /// <summary>Bytes a record adds to application data: 13-byte header, 8-byte explicit nonce, 16-byte tag.</summary>
    public const int ApplicationDataOverhead = DtlsRecordHeader.Size + DtlsAeadCipher.Overhead;

    /// <summary>Takes the next received application record's plaintext (records are never merged or split) as a new array.</summary>
    public bool TryReadApplicationData(out ReadOnlyMemory<byte> data)
    {
        if (State is (DtlsState.Connected or DtlsState.Closed) && _appIn.TryDequeue(out var d))
        {
            data = d.Buffer.AsSpan(0, d.Length).ToArray();
            ArrayPool<byte>.Shared.Return(d.Buffer);
            return true;
        }
        data = default;
        return false;
    }

    /// <summary>
    /// Zero-allocation variant: copies the next received application record into <paramref name="destination"/>.
    /// A buffer of <see cref="MaxApplicationDataSize"/> bytes always suffices.
    /// </summary>
    /// <exception cref="CryptoException"><paramref name="destination"/> is smaller than the record (the record stays queued).</exception>
    public bool TryReadApplicationData(Span<byte> destination, out int length)
    {
        length = 0;
        if (State is not (DtlsState.Connected or DtlsState.Closed) || !_appIn.TryPeek(out var d)) return false;
        if (destination.Length < d.Length)
            throw new CryptoException(CryptoError.LimitExceeded, $"DTLS: record of {d.Length} bytes does not fit the buffer");
        _appIn.Dequeue();
        d.Buffer.AsSpan(0, d.Length).CopyTo(destination);
        ArrayPool<byte>.Shared.Return(d.Buffer);
        length = d.Length;
        return true;
    }

    /// <summary>
    /// RFC 5705 keying-material exporter: PRF(master_secret, label, client_random || server_random [|| uint16 context
    /// length || context]). For DTLS-SRTP (RFC 5764 §4.2) use label "EXTRACTOR-dtls_srtp", no context.
    /// </summary>
    /// <param name="label">The exporter label (ASCII).</param>
    /// <param name="context">Context value, or null for "no context" (which differs from an empty context).</param>
    /// <param name="length">Bytes to export.</param>
    public byte[] ExportKeyingMaterial(string label, byte[]? context, int length)
    {
        ArgumentNullException.ThrowIfNull(label);
        if (State != DtlsState.Connected || _masterSecret is null)
            throw new CryptoException(CryptoError.InvalidState, "DTLS: keying material is available only when connected");
        if (label is "client finished" or "server finished" or "master secret" or "key expansion" or "extended master secret")
            throw new CryptoException(CryptoError.InvalidState, "DTLS: reserved exporter label");
        if (length <= 0 || length > 16 * 1024 || (context?.Length ?? 0) > 0xFFFF)
            throw new CryptoException(CryptoError.LimitExceeded, "DTLS: exporter length or context out of range");
        var seed = new byte[64 + (context is null ? 0 : 2 + context.Length)];
        _clientRandom.CopyTo(seed, 0);
        _serverRandom.CopyTo(seed, 32);
        if (context is not null)
        {
            seed[64] = (byte)(context.Length >> 8);
            seed[65] = (byte)context.Length;
            context.CopyTo(seed, 66);
        }
        var labelBytes = System.Text.Encoding.ASCII.GetBytes(label);
        var output = new byte[length];
        TlsPrf.Compute(_prfHash, _masterSecret, labelBytes, seed, output);
        return output;
    }

    /// <summary>Sends close_notify (when a handshake or connection exists) and moves to <see cref="DtlsState.Closed"/>.</summary>
    public void Close()
    {
        if (State is DtlsState.Closed or DtlsState.Failed) return;
        if (State is DtlsState.Connecting or DtlsState.Connected) SendAlert(TlsAlert.LevelWarning, TlsAlert.CloseNotify);
        _closeNotifySent = true;
        State = DtlsState.Closed;
        _retransmitAt = null;
    }

    /// <summary>Releases keys.</summary>
    public void Dispose()
    {
        while (_appIn.TryDequeue(out var d)) ArrayPool<byte>.Shared.Return(d.Buffer);
        _writeCipher?.Dispose();
        _readCipher?.Dispose();
        _ecdh?.Dispose();
        _signingKey.Dispose();
        if (_masterSecret is not null) CryptographicOperations.ZeroMemory(_masterSecret);
    }

    private void FailWith(CryptoException ex, bool sendAlert = true)
    {
        if (State is DtlsState.Failed or DtlsState.Closed) return;
        if (sendAlert && ex.Error != CryptoError.PeerAlert)
        {
            try { SendAlert(TlsAlert.LevelFatal, ex.Alert != 0 ? ex.Alert : TlsAlert.InternalError); }
            catch (CryptoException) { /* best effort */ }
        }
        Error = ex;
        State = DtlsState.Failed; // queues StateChanged with Error
        _retransmitAt = null;
    }

    private void SendAlert(byte level, byte description)
    {
        ReadOnlySpan<byte> alert = [level, description];
        ushort epoch = _writeEpoch;
        var dg = new byte[DtlsRecordHeader.Size + (epoch > 0 ? DtlsAeadCipher.Overhead : 0) + 2];
        WriteRecord(dg, TlsContentType.Alert, epoch, alert);
        _out.Enqueue(dg);
    }

    /// <summary>Writes one record (header + plaintext or sealed fragment) at the start of <paramref name="dest"/>; returns its size.</summary>
    private int WriteRecord(Span<byte> dest, byte type, ushort epoch, ReadOnlySpan<byte> plaintext)
    {
        ulong seq = _writeSeq[epoch]++;
        if (seq >= (1UL << 48)) throw new CryptoException(CryptoError.LimitExceeded, "DTLS: sequence numbers exhausted");
        int len = plaintext.Length + (epoch > 0 ? DtlsAeadCipher.Overhead : 0);
        var h = new DtlsRecordHeader(type, TlsVersion.Dtls12, epoch, seq, (ushort)len);
        h.Write(dest);
        if (epoch == 0) plaintext.CopyTo(dest[DtlsRecordHeader.Size..]);
        else _writeCipher!.Seal(h.EpochAndSequence, type, h.Version, plaintext, dest.Slice(DtlsRecordHeader.Size, len));
        return DtlsRecordHeader.Size + len;
    }

    private ulong _currentRecordSeq; // sequence number of the record being processed (echoed in HelloVerifyRequest)

    private void ProcessRecord(in DtlsRecordHeader h, ReadOnlySpan<byte> fragment, ReadOnlySpan<byte> wholeRecord, TimeSpan now)
    {
        _currentRecordSeq = h.SequenceNumber;
        if (h.Epoch == 0)
        {
            ProcessPlaintext(h.ContentType, fragment, 0, now);
            return;
        }
        if (h.Epoch != 1) return; // no renegotiation: later epochs are never valid
        if (_readCipher is null)
        {
            // Finished (or early data) overtook the flight that creates the keys: keep a bounded number of records.
            if (State != DtlsState.Connecting) return;
            if (_stash.Count >= MaxStashedRecords) _stash.RemoveAt(0); // keep the newest: garbage cannot lock out real records
            _stash.Add(wholeRecord.ToArray());
            return;
        }
        if (!_replay.IsAcceptable(h.SequenceNumber)) return;
        if (fragment.Length < DtlsAeadCipher.Overhead) return;
        if (h.ContentType == TlsContentType.ApplicationData)
        {
            ReceiveApplicationData(h, fragment);
            return;
        }
        byte[] rented = ArrayPool<byte>.Shared.Rent(fragment.Length);
        try
        {
            if (!_readCipher.TryOpen(h.EpochAndSequence, h.ContentType, h.Version, fragment, rented, out int n)) return;
            if (n > (1 << 14)) return; // record_overflow: drop
            _replay.Accept(h.SequenceNumber);
            ProcessPlaintext(h.ContentType, rented.AsSpan(0, n), 1, now);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented, clearArray: true);
        }
    }

    /// <summary>Hot path: decrypt straight into a pooled buffer that the receive queue then owns.</summary>
    private void ReceiveApplicationData(in DtlsRecordHeader h, ReadOnlySpan<byte> fragment)
    {
        // Authenticated data may overtake the server's Finished (reordering): keep it for after the handshake.
        if (!(State == DtlsState.Connected || (IsClient && _hs == Hs.ClientWaitFinished)) || _appIn.Count >= _opt.MaxReceiveQueue) return;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(fragment.Length, 1));
        if (!_readCipher!.TryOpen(h.EpochAndSequence, h.ContentType, h.Version, fragment, buffer, out int n) || n > MaxApplicationDataSize)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return;
        }
        _replay.Accept(h.SequenceNumber);
        _appIn.Enqueue((buffer, n));
        if (!_appEventPending)
        {
            _appEventPending = true;
            _events.Enqueue(new DtlsEvent(DtlsEventKind.ApplicationDataAvailable));
        }
    }

    private void DrainStash(TimeSpan now)
    {
        var stash = _stash;
        _stash = [];
        foreach (var rec in stash)
        {
            if (State is not (DtlsState.Connecting or DtlsState.Connected)) return;
            if (DtlsRecordHeader.TryRead(rec, out var h))
                ProcessRecord(h, rec.AsSpan(DtlsRecordHeader.Size, h.Length), rec, now);
        }
    }

    private void ProcessPlaintext(byte type, ReadOnlySpan<byte> data, ushort epoch, TimeSpan now)
    {
        switch (type)
        {
            case TlsContentType.ChangeCipherSpec:
                // Only a marker in DTLS 1.2: the epoch number in each record says which keys apply.
                break;
            case TlsContentType.Alert:
                if (data.Length != 2) return;
                // Epoch-0 alerts are unauthenticated: anyone on the path can forge one (issue 9: one spoofed fatal
                // alert per millisecond broke handshakes). RFC 6347 §4.1.2.7 lets us discard them, during the
                // handshake as after it. A peer that really fails then costs us its retransmission timeout.
                if (epoch == 0) return;
                HandleAlert(data[0], data[1]);
                break;
            case TlsContentType.Handshake:
                while (data.Length > 0)
                {
                    if (!DtlsHandshakeHeader.TryRead(data, out var hh)) break;
                    HandleFragment(hh, data.Slice(DtlsHandshakeHeader.Size, hh.FragmentLength), epoch, now);
                    data = data[(DtlsHandshakeHeader.Size + hh.FragmentLength)..];
                }
                DrainHandshake(now);
                break;
            case TlsContentType.ApplicationData:
                break; // epoch 0: never valid; epoch 1 goes through ReceiveApplicationData
        }
    }

    private void HandleAlert(byte level, byte description)
    {
        if (_events.Count < MaxQueuedEvents || level == TlsAlert.LevelFatal || description == TlsAlert.CloseNotify)
            _events.Enqueue(new DtlsEvent(DtlsEventKind.AlertReceived, AlertLevel: level, AlertDescription: description));
        if (description == TlsAlert.CloseNotify)
        {
            if (!_closeNotifySent && State == DtlsState.Connected)
            {
                SendAlert(TlsAlert.LevelWarning, TlsAlert.CloseNotify);
                _closeNotifySent = true;
            }
            State = DtlsState.Closed;
            _retransmitAt = null;
            return;
        }
        if (level == TlsAlert.LevelFatal)
            throw new CryptoException(CryptoError.PeerAlert, $"DTLS: peer sent fatal alert {description}", description);
        // warnings (e.g. no_renegotiation) are ignored
    }
}
