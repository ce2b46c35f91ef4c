using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OspBridge.Crypto.Tls;

/// <summary>
/// TLS 1.3 server for QUIC. Flow: ClientHello [→ HelloRetryRequest → ClientHello2] → ServerHello (Initial),
/// EncryptedExtensions, [CertificateRequest], Certificate, CertificateVerify, Finished (Handshake) →
/// [client Certificate, CertificateVerify], client Finished (Handshake) → complete.
/// </summary>
internal sealed class TlsServerHandshake : TlsHandshakeBase
{
    private enum State { WaitClientHello, WaitClientHello2, WaitCertificate, WaitCertificateVerify, WaitFinished, Connected }

    private State _state = State.WaitClientHello;
    private readonly X509Certificate2 _certificate;
    private ushort _hrrSuite;
    private byte[]? _clientHandshakeSecret;
    private byte[]? _clientAppSecret;
    private X509Certificate2? _clientLeaf;

    private readonly ushort[] _groups;
    private ushort _hrrGroup;

    /// <param name="options">Server options.</param>
    /// <param name="groups">Key exchange groups in preference order (default x25519, secp256r1; tests restrict it to force a HelloRetryRequest).</param>
    public TlsServerHandshake(QuicTlsOptions options, ushort[]? groups = null) : base(options)
    {
        _groups = groups ?? DefaultGroups;
        _certificate = options.Certificate ?? throw new CryptoException(CryptoError.InvalidState, "a TLS server needs a certificate");
        if (!_certificate.HasPrivateKey) throw new CryptoException(CryptoError.InvalidState, "the server certificate has no private key");
    }

    /// <summary>True when the server answered with a HelloRetryRequest (diagnostics, tests).</summary>
    public bool SentHelloRetryRequest { get; private set; }

    public override void Start() { }

    protected override void OnMessage(TlsEncryptionLevel level, byte type, byte[] message)
    {
        var body = message.AsSpan(4);
        switch (_state)
        {
            case State.WaitClientHello or State.WaitClientHello2 when type == TlsHandshakeType.ClientHello:
                OnClientHello(message, ClientHello.Parse(body));
                break;
            case State.WaitCertificate when type == TlsHandshakeType.Certificate:
                OnCertificate(message, CertificateMessage.Parse(body));
                break;
            case State.WaitCertificateVerify when type == TlsHandshakeType.CertificateVerify:
                VerifyPeerCertificateVerify(message, _clientLeaf!, peerIsServer: false);
                _state = State.WaitFinished;
                break;
            case State.WaitFinished when type == TlsHandshakeType.Finished:
                OnFinished(message, body);
                break;
            default:
                throw TlsAlert.Unexpected($"handshake message {type} not allowed in server state {_state}");
        }
    }

    private void OnClientHello(byte[] message, ClientHello ch)
    {
        bool second = _state == State.WaitClientHello2;
        if (ch.SupportedVersions is null || !ch.SupportedVersions.Contains(TlsVersion.Tls13))
            throw new CryptoException(CryptoError.HandshakeFailure, "client does not offer TLS 1.3", TlsAlert.ProtocolVersion);
        if (ch.TransportParameters is null)
            throw new CryptoException(CryptoError.Malformed, "ClientHello lacks quic_transport_parameters", TlsAlert.MissingExtension);
        if (ch.SignatureAlgorithms is null)
            throw new CryptoException(CryptoError.Malformed, "ClientHello lacks signature_algorithms", TlsAlert.MissingExtension);
        if (ch.SupportedGroups is null || ch.KeyShares is null)
            throw new CryptoException(CryptoError.Malformed, "ClientHello lacks supported_groups or key_share", TlsAlert.MissingExtension);
        foreach (var (g, _) in ch.KeyShares)
            if (!ch.SupportedGroups.Contains(g)) throw TlsAlert.Illegal("key_share for a group not in supported_groups");

        // Cipher suite: our preference order.
        ushort suite = 0;
        if (second)
        {
            if (!ch.CipherSuites.Contains(_hrrSuite)) throw TlsAlert.Illegal("second ClientHello dropped the cipher suite chosen in HelloRetryRequest");
            suite = _hrrSuite;
        }
        else
        {
            foreach (var s in Options.CipherSuites)
                if (ch.CipherSuites.Contains((ushort)s)) { suite = (ushort)s; break; }
            if (suite == 0) throw TlsAlert.Failure("no common cipher suite");
        }

        // Signature scheme for our certificate.
        ushort scheme = TlsSignatures.Choose(_certificate, ch.SignatureAlgorithms)
            ?? throw TlsAlert.Failure("client accepts no signature scheme our certificate can make");

        // ALPN: first of our list that the client offered.
        string? alpn = null;
        if (Options.ApplicationProtocols.Count > 0)
        {
            if (ch.Alpn is not null)
                foreach (var p in Options.ApplicationProtocols)
                    if (ch.Alpn.Contains(p)) { alpn = p; break; }
            if (alpn is null)
                throw new CryptoException(CryptoError.HandshakeFailure, "no common application protocol (ALPN)", TlsAlert.NoApplicationProtocol);
        }

        // Group: the first of ours for which the client sent a share; otherwise HelloRetryRequest for the
        // first of ours the client supports (Chromium shares only X25519MLKEM768 + X25519).
        ushort group = 0;
        byte[]? clientShare = null;
        foreach (var g in _groups)
        {
            foreach (var (cg, k) in ch.KeyShares)
                if (cg == g) { group = g; clientShare = k; break; }
            if (clientShare is not null) break;
        }
        if (second && (clientShare is null || group != _hrrGroup))
            throw TlsAlert.Illegal("second ClientHello has no share for the group selected by HelloRetryRequest");
        if (clientShare is null)
            foreach (var g in _groups)
                if (ch.SupportedGroups.Contains(g)) { group = g; break; }
        if (group == 0) throw NoGroup();

        CipherSuite = (Tls13CipherSuite)suite;
        Schedule ??= new TlsKeySchedule(CipherSuite);

        if (clientShare is null)
        {
            // HelloRetryRequest (RFC 8446 §4.1.4); the transcript gets message_hash(CH1).
            AddToTranscript(message);
            ReplaceTranscriptWithMessageHash();
            var hrr = new ServerHello { CipherSuite = suite, SessionIdEcho = ch.SessionId, KeyShareGroup = group };
            TlsConst.HelloRetryRequestRandom.CopyTo(hrr.Random);
            var w = new TlsWriter();
            AppendMessage(w, hrr.Write);
            EmitCrypto(TlsEncryptionLevel.Initial, w.ToArray());
            _hrrSuite = suite;
            _hrrGroup = group;
            SentHelloRetryRequest = true;
            _state = State.WaitClientHello2;
            return;
        }
        if (second && ch.KeyShares.Count != 1) throw TlsAlert.Illegal("second ClientHello must carry exactly the requested key share");
        if (HasBufferedInput(TlsEncryptionLevel.Initial)) throw TlsAlert.Unexpected("data after ClientHello at the Initial level");

        // Commit: everything below only produces output.
        ClientRandom = ch.Random;
        ServerName = ch.ServerName;
        PeerTransportParameters = ch.TransportParameters;
        NegotiatedApplicationProtocol = alpn;
        AddToTranscript(message);

        byte[] shared;
        byte[] pub;
        using (var share = KeyShare.Create(group, Options.Random))
        {
            shared = share.Agree(clientShare);
            pub = share.Public;
        }
        var sh = new ServerHello { CipherSuite = suite, SessionIdEcho = ch.SessionId, KeyShareGroup = group, KeyShare = pub };
        Options.Random.GetBytes(sh.Random);
        var initial = new TlsWriter();
        AppendMessage(initial, sh.Write);
        EmitCrypto(TlsEncryptionLevel.Initial, initial.ToArray());

        Schedule.SetSharedSecret(shared);
        CryptographicOperations.ZeroMemory(shared);
        var (chs, shs) = Schedule.HandshakeTrafficSecrets(TranscriptHash());
        _clientHandshakeSecret = chs;
        KeyLog("CLIENT_HANDSHAKE_TRAFFIC_SECRET", chs);
        KeyLog("SERVER_HANDSHAKE_TRAFFIC_SECRET", shs);
        EmitSecret(TlsEncryptionLevel.Handshake, true, shs);
        EmitSecret(TlsEncryptionLevel.Handshake, false, chs);

        var flight = new TlsWriter(2048);
        var ee = new EncryptedExtensions { Alpn = alpn, TransportParameters = Options.LocalTransportParameters.ToArray(), ServerNameAck = ch.ServerName is not null };
        AppendMessage(flight, ee.Write);
        if (Options.RequireClientCertificate)
            AppendMessage(flight, new CertificateRequestMessage { SignatureAlgorithms = [.. SignatureScheme.Supported] }.Write);
        AppendCertificateAndVerify(flight, _certificate, scheme, server: true);
        byte[] fin = Schedule.FinishedVerifyData(shs, TranscriptHash());
        AppendMessage(flight, w => FinishedMessage.Write(w, fin));
        EmitCrypto(TlsEncryptionLevel.Handshake, flight.ToArray());

        var (cap, sap) = Schedule.ApplicationTrafficSecrets(TranscriptHash());
        _clientAppSecret = cap;
        KeyLog("CLIENT_TRAFFIC_SECRET_0", cap);
        KeyLog("SERVER_TRAFFIC_SECRET_0", sap);
        EmitSecret(TlsEncryptionLevel.Application, true, sap);

        SwitchReadLevel(TlsEncryptionLevel.Handshake);
        _state = Options.RequireClientCertificate ? State.WaitCertificate : State.WaitFinished;
    }

    private void OnCertificate(byte[] message, CertificateMessage cm)
    {
        if (cm.Certificates.Count == 0)
            throw new CryptoException(CryptoError.BadCertificate, "client sent no certificate but one is required", TlsAlert.CertificateRequired);
        _clientLeaf = AcceptPeerCertificates(cm);
        AddToTranscript(message);
        _state = State.WaitCertificateVerify;
    }

    private void OnFinished(byte[] message, ReadOnlySpan<byte> body)
    {
        byte[] expected = Schedule!.FinishedVerifyData(_clientHandshakeSecret!, TranscriptHash());
        if (body.Length != expected.Length || !CryptographicOperations.FixedTimeEquals(body, expected))
            throw new CryptoException(CryptoError.DecryptError, "client Finished does not verify", TlsAlert.DecryptError);
        if (HasBufferedInput(TlsEncryptionLevel.Handshake)) throw TlsAlert.Unexpected("data after client Finished at the Handshake level");
        AddToTranscript(message);
        EmitSecret(TlsEncryptionLevel.Application, false, _clientAppSecret!);
        SwitchReadLevel(TlsEncryptionLevel.Application);
        _state = State.Connected;
        EmitComplete();
    }

}
