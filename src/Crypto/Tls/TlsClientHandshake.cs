using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OspBridge.Crypto.Tls;

/// <summary>
/// TLS 1.3 client for QUIC. Flow: ClientHello (Initial) → [HelloRetryRequest → ClientHello2] → ServerHello
/// (Initial) → EncryptedExtensions, [CertificateRequest], Certificate, CertificateVerify, Finished (Handshake)
/// → [Certificate, CertificateVerify], Finished (Handshake) → complete; then only NewSessionTicket (ignored).
/// </summary>
internal sealed class TlsClientHandshake : TlsHandshakeBase
{
    private enum State { Idle, WaitServerHello, WaitEncryptedExtensions, WaitCertificateOrRequest, WaitCertificate, WaitCertificateVerify, WaitFinished, Connected }

    private State _state = State.Idle;
    private readonly bool _sendInitialKeyShare;
    private ClientHello? _hello;
    private readonly List<KeyShare> _shares = [];
    private bool _retried;
    private ushort _hrrSuite;
    private byte[]? _clientHandshakeSecret;
    private byte[]? _serverHandshakeSecret;
    private CertificateRequestMessage? _certRequest;
    private X509Certificate2? _serverLeaf;

    /// <param name="options">Client options.</param>
    /// <param name="sendInitialKeyShare">False sends an empty key_share in the first ClientHello, forcing a HelloRetryRequest (tests).</param>
    public TlsClientHandshake(QuicTlsOptions options, bool sendInitialKeyShare = true) : base(options)
    {
        _sendInitialKeyShare = sendInitialKeyShare;
        if (options.CipherSuites.Count == 0) throw new CryptoException(CryptoError.InvalidState, "no cipher suites configured");
    }

    /// <summary>True when the server sent a HelloRetryRequest (diagnostics, tests).</summary>
    public bool ReceivedHelloRetryRequest => _retried;

    public override void Start()
    {
        if (_state != State.Idle) throw new CryptoException(CryptoError.InvalidState, "Start called twice");
        var ch = new ClientHello
        {
            CipherSuites = [.. Options.CipherSuites.Select(s => (ushort)s)],
            ServerName = SniName(Options.ServerName),
            Alpn = Options.ApplicationProtocols.Count > 0 ? [.. Options.ApplicationProtocols] : null,
            SupportedVersions = [TlsVersion.Tls13],
            SupportedGroups = [.. DefaultGroups],
            SignatureAlgorithms = [.. SignatureScheme.Supported],
            TransportParameters = Options.LocalTransportParameters.ToArray(),
            KeyShares = [],
        };
        Options.Random.GetBytes(ch.Random);
        ClientRandom = ch.Random;
        if (_sendInitialKeyShare)
            foreach (var g in DefaultGroups) AddShare(ch, g);
        _hello = ch;
        SendHello(ch);
        _state = State.WaitServerHello;
    }

    /// <summary>SNI carries DNS names only (RFC 6066 §3): IP literals and empty names are not sent.</summary>
    private static string? SniName(string? name) =>
        string.IsNullOrEmpty(name) || IPAddress.TryParse(name, out _) ? null : name.TrimEnd('.');

    private void AddShare(ClientHello ch, ushort group)
    {
        var share = KeyShare.Create(group, Options.Random);
        _shares.Add(share);
        ch.KeyShares!.Add((group, share.Public));
    }

    private void DropShares()
    {
        foreach (var s in _shares) s.Dispose();
        _shares.Clear();
    }

    private void SendHello(ClientHello ch)
    {
        var w = new TlsWriter(512);
        ch.Write(w);
        byte[] bytes = w.ToArray();
        AddToTranscript(bytes);
        EmitCrypto(TlsEncryptionLevel.Initial, bytes);
    }

    protected override void OnMessage(TlsEncryptionLevel level, byte type, byte[] message)
    {
        var body = message.AsSpan(4);
        switch (_state)
        {
            case State.WaitServerHello when type == TlsHandshakeType.ServerHello:
                OnServerHello(message, ServerHello.Parse(body));
                break;
            case State.WaitEncryptedExtensions when type == TlsHandshakeType.EncryptedExtensions:
            {
                var ee = EncryptedExtensions.Parse(body, _hello!.ServerName is not null, _hello.Alpn is not null);
                if (ee.TransportParameters is null)
                    throw new CryptoException(CryptoError.Malformed, "EncryptedExtensions lacks quic_transport_parameters", TlsAlert.MissingExtension);
                if (_hello.Alpn is not null)
                {
                    if (ee.Alpn is null)
                        throw new CryptoException(CryptoError.HandshakeFailure, "server selected no application protocol", TlsAlert.NoApplicationProtocol);
                    if (!_hello.Alpn.Contains(ee.Alpn)) throw TlsAlert.Illegal("server selected an ALPN protocol we did not offer");
                }
                NegotiatedApplicationProtocol = ee.Alpn;
                PeerTransportParameters = ee.TransportParameters;
                AddToTranscript(message);
                _state = State.WaitCertificateOrRequest;
                break;
            }
            case State.WaitCertificateOrRequest when type == TlsHandshakeType.CertificateRequest:
                _certRequest = CertificateRequestMessage.Parse(body);
                AddToTranscript(message);
                _state = State.WaitCertificate;
                break;
            case State.WaitCertificateOrRequest or State.WaitCertificate when type == TlsHandshakeType.Certificate:
            {
                var cm = CertificateMessage.Parse(body);
                if (cm.Certificates.Count == 0) throw TlsAlert.Decode("server sent an empty Certificate");
                _serverLeaf = AcceptPeerCertificates(cm);
                AddToTranscript(message);
                _state = State.WaitCertificateVerify;
                break;
            }
            case State.WaitCertificateVerify when type == TlsHandshakeType.CertificateVerify:
                VerifyPeerCertificateVerify(message, _serverLeaf!, peerIsServer: true);
                _state = State.WaitFinished;
                break;
            case State.WaitFinished when type == TlsHandshakeType.Finished:
                OnServerFinished(message, body);
                break;
            case State.Connected when type == TlsHandshakeType.NewSessionTicket:
                NewSessionTicketMessage.Validate(body); // no resumption: ignored
                break;
            default:
                throw TlsAlert.Unexpected($"handshake message {type} not allowed in client state {_state}");
        }
    }

    private void OnServerHello(byte[] message, ServerHello sh)
    {
        var hello = _hello!;
        if (!sh.SessionIdEcho.AsSpan().SequenceEqual(hello.SessionId)) throw TlsAlert.Illegal("legacy_session_id_echo mismatch");
        if (!hello.CipherSuites.Contains(sh.CipherSuite)) throw TlsAlert.Illegal("server chose a cipher suite we did not offer");
        if (sh.IsHelloRetryRequest)
        {
            if (_retried) throw TlsAlert.Unexpected("second HelloRetryRequest");
            if (sh.KeyShareGroup is ushort g)
            {
                if (!hello.SupportedGroups!.Contains(g)) throw TlsAlert.Illegal("HelloRetryRequest selects a group we do not support");
                foreach (var (og, _) in hello.KeyShares!)
                    if (og == g) throw TlsAlert.Illegal("HelloRetryRequest selects a group we already sent a share for");
            }
            else if (sh.Cookie is null) throw TlsAlert.Illegal("HelloRetryRequest would not change the ClientHello");
            if (HasBufferedInput(TlsEncryptionLevel.Initial)) throw TlsAlert.Unexpected("data after HelloRetryRequest");
            _retried = true;
            _hrrSuite = sh.CipherSuite;
            CipherSuite = (Tls13CipherSuite)sh.CipherSuite;
            Schedule = new TlsKeySchedule(CipherSuite);
            ReplaceTranscriptWithMessageHash();
            AddToTranscript(message);
            hello.Cookie = sh.Cookie;
            if (sh.KeyShareGroup is ushort sel)
            {
                DropShares();
                hello.KeyShares = [];
                AddShare(hello, sel);
            }
            SendHello(hello);
            return;
        }
        if (_retried && sh.CipherSuite != _hrrSuite) throw TlsAlert.Illegal("ServerHello cipher suite differs from HelloRetryRequest");
        var mine = _shares.Find(s => s.Group == sh.KeyShareGroup);
        if (mine is null || sh.KeyShare is null)
            throw TlsAlert.Illegal("ServerHello key_share is not for a group we sent a share for");
        byte[] shared = mine.Agree(sh.KeyShare);
        DropShares();

        CipherSuite = (Tls13CipherSuite)sh.CipherSuite;
        Schedule ??= new TlsKeySchedule(CipherSuite);
        AddToTranscript(message);
        Schedule.SetSharedSecret(shared);
        CryptographicOperations.ZeroMemory(shared);
        var (chs, shs) = Schedule.HandshakeTrafficSecrets(TranscriptHash());
        _clientHandshakeSecret = chs;
        _serverHandshakeSecret = shs;
        KeyLog("CLIENT_HANDSHAKE_TRAFFIC_SECRET", chs);
        KeyLog("SERVER_HANDSHAKE_TRAFFIC_SECRET", shs);
        EmitSecret(TlsEncryptionLevel.Handshake, false, shs);
        EmitSecret(TlsEncryptionLevel.Handshake, true, chs);
        SwitchReadLevel(TlsEncryptionLevel.Handshake);
        _state = State.WaitEncryptedExtensions;
    }

    private void OnServerFinished(byte[] message, ReadOnlySpan<byte> body)
    {
        byte[] expected = Schedule!.FinishedVerifyData(_serverHandshakeSecret!, TranscriptHash());
        if (body.Length != expected.Length || !CryptographicOperations.FixedTimeEquals(body, expected))
            throw new CryptoException(CryptoError.DecryptError, "server Finished does not verify", TlsAlert.DecryptError);
        AddToTranscript(message);
        var (cap, sap) = Schedule.ApplicationTrafficSecrets(TranscriptHash());
        KeyLog("CLIENT_TRAFFIC_SECRET_0", cap);
        KeyLog("SERVER_TRAFFIC_SECRET_0", sap);
        EmitSecret(TlsEncryptionLevel.Application, false, sap);

        var flight = new TlsWriter(1024);
        if (_certRequest is not null)
        {
            var cert = Options.Certificate;
            ushort? scheme = cert is { HasPrivateKey: true } ? TlsSignatures.Choose(cert, _certRequest.SignatureAlgorithms) : null;
            if (cert is not null && scheme is ushort s) AppendCertificateAndVerify(flight, cert, s, server: false);
            else AppendMessage(flight, new CertificateMessage().Write); // empty: we have nothing acceptable
        }
        byte[] fin = Schedule.FinishedVerifyData(_clientHandshakeSecret!, TranscriptHash());
        AppendMessage(flight, w => FinishedMessage.Write(w, fin));
        EmitCrypto(TlsEncryptionLevel.Handshake, flight.ToArray());
        EmitSecret(TlsEncryptionLevel.Application, true, cap);
        SwitchReadLevel(TlsEncryptionLevel.Application);
        _state = State.Connected;
        EmitComplete();
    }
}
