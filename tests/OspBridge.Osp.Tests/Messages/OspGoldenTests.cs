using OspBridge.Osp.Cbor;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Tests.Messages;

/// <summary>
/// Golden bytes (QUIC varint type key + CBOR body) for every worked example of the research digest
/// (osp-lp2p.md §1.6, §2.6), each re-derived by hand from the CDDL, plus OspBridge's own extension messages
/// (docs/osp-messages.md lists the same vectors).
/// </summary>
public sealed class OspGoldenTests
{
    private static readonly byte[] Bytes32 = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

    public static TheoryData<string, string> Golden => new()
    {
        // agent-info-request {0: 1}: key 10 = 0a; a1 (map 1) 00 01.
        { "agent-info-request", "0aa10001" },
        // auth-capabilities {0: 50, 1: [0], 2: 20}: key 1001 = 43e9; 18 32 = 50; 81 00 = [numeric]; 14 = 20.
        { "auth-capabilities", "43e9a30018320181000214" },
        // auth-status {0: authenticated(0)}: key 1004 = 43ec.
        { "auth-status", "43eca10000" },
        // auth-spake2-handshake {0: {0: "abc"}, 1: psk-shown(1), 2: h'00..1f'}: key 1005 = 43ed; 58 20 = 32-byte string.
        { "auth-spake2-handshake", "43eda300a10063616263010102582000" + "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" },
        // data-channel-open-request {0: 1, 1: 0, 2: "chat", 3: ""}: key 1101 = 444d.
        { "data-channel-open-request", "444da40001010002646368617403" + "60" },
        // LP2P data-frame {0: string(1), 4: h'6869'}: key 24 = 18.
        { "data-frame", "18a200010442" + "6869" },
        // OspBridge lan-signaling-offer {0: 1, 1: 7, 2: "v=0\r\n", 4: true}: key 8193 = 6001.
        { "lan-signaling-offer", "6001a4000101070265763d300d0a04f5" },
        // lan-signaling-answer {0: 1, 1: success(1), 2: "v=0\r\n"}: key 8194 = 6002.
        { "lan-signaling-answer", "6002a3000101010265763d300d0a" },
        // lan-signaling-candidate {0: 7, 1: "candidate:1 1 udp 1 10.0.0.1 9 typ host", 2: "0", 3: 0}: key 8195 = 6003.
        { "lan-signaling-candidate", "6003a40007017827" + Convert.ToHexStringLower("candidate:1 1 udp 1 10.0.0.1 9 typ host"u8) + "02613003" + "00" },
        // lan-signaling-close {0: 7, 1: normal(0)}: key 8196 = 6004.
        { "lan-signaling-close", "6004a200070100" },
        // lan-signaling-ice-restart {0: 1, 1: 7, 2: "abcd", 3: "0123456789abcdefghijkl"}: key 8197 = 6005.
        { "lan-signaling-ice-restart", "6005a4000101070264616263640376303132333435363738396162636465666768696a6b6c" },
        // lan-signaling-ice-restart-response {0: 1, 1: success(1), 2: "a=ice-ufrag:abcd\r\n"}: key 8198 = 6006.
        { "lan-signaling-ice-restart-response", "6006a3000101010272613d6963652d75667261673a616263640d0a" },
    };

    private static IOspMessage Example(string name) => name switch
    {
        "agent-info-request" => new AgentInfoRequest { RequestId = 1 },
        "auth-capabilities" => new AuthCapabilities { PskEaseOfInput = 50, PskInputMethods = [PskInputMethod.Numeric], PskMinBitsOfEntropy = 20 },
        "auth-status" => new AuthStatus { Result = AuthStatusResult.Authenticated },
        "auth-spake2-handshake" => new AuthSpake2Handshake
        {
            InitiationToken = new AuthInitiationToken { Token = "abc" },
            PskStatus = AuthSpake2PskStatus.PskShown,
            PublicValue = Bytes32,
        },
        "data-channel-open-request" => new DataChannelOpenRequest { RequestId = 1, ChannelId = 0, Label = "chat", Protocol = "" },
        "data-frame" => new DataFrame { EncodingId = (ulong)DataChannelEncodingId.String, Payload = "hi"u8.ToArray() },
        "lan-signaling-offer" => new LanSignalingOffer { RequestId = 1, SessionId = 7, Sdp = "v=0\r\n", TrickleIce = true },
        "lan-signaling-answer" => new LanSignalingAnswer { RequestId = 1, Result = Result.Success, Sdp = "v=0\r\n" },
        "lan-signaling-candidate" => new LanSignalingCandidate { SessionId = 7, Candidate = "candidate:1 1 udp 1 10.0.0.1 9 typ host", SdpMid = "0", SdpMLineIndex = 0 },
        "lan-signaling-close" => new LanSignalingClose { SessionId = 7, Reason = LanSignalingCloseReason.Normal },
        "lan-signaling-ice-restart" => new LanSignalingIceRestart { RequestId = 1, SessionId = 7, IceUfrag = "abcd", IcePwd = "0123456789abcdefghijkl" },
        "lan-signaling-ice-restart-response" => new LanSignalingIceRestartResponse { RequestId = 1, Result = Result.Success, Sdpfrag = "a=ice-ufrag:abcd\r\n" },
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Golden))]
    public void Encodes_to_the_golden_bytes(string name, string hex)
    {
        IOspMessage message = Example(name);
        Assert.Equal(name, message.Name);
        Assert.Equal(hex, Convert.ToHexStringLower(OspFraming.Frame(message)));
    }

    [Theory]
    [MemberData(nameof(Golden))]
    public void Decodes_from_the_golden_bytes(string name, string hex)
    {
        IOspMessage decoded = OspFraming.Decode(Convert.FromHexString(hex));
        Assert.Equal(name, decoded.Name);
        Assert.Equal(Example(name), decoded);
    }

    [Fact]
    public void Type_keys_follow_the_spec_table()
    {
        Assert.Equal(10UL, OspTypeKeys.AgentInfoRequest);
        Assert.Equal(11UL, OspTypeKeys.AgentInfoResponse);
        Assert.Equal(120UL, OspTypeKeys.AgentInfoEvent);
        Assert.Equal(1001UL, OspTypeKeys.AuthCapabilities);
        Assert.Equal(1003UL, OspTypeKeys.AuthSpake2Confirmation);
        Assert.Equal(1004UL, OspTypeKeys.AuthStatus);
        Assert.Equal(1005UL, OspTypeKeys.AuthSpake2Handshake);
        Assert.Equal(22UL, OspTypeKeys.AudioFrame);
        Assert.Equal(24UL, OspTypeKeys.DataFrame);
        Assert.Equal(132UL, OspTypeKeys.StreamingSessionReceiverStatsEvent);
        Assert.Equal(1101UL, OspTypeKeys.DataChannelOpenRequest);
        Assert.Equal(1102UL, OspTypeKeys.DataChannelOpenResponse);
        Assert.Equal(1100UL, (ulong)AgentCapability.DataChannels);
        Assert.Equal(1200UL, (ulong)AgentCapability.QuickTransport);
        Assert.Equal(1300UL, (ulong)AgentCapability.LanSignaling);

        // Application spec: 43 messages; network spec: 4 auth messages; LP2P: 2; OspBridge: 6 (lan-signaling 8193-8198).
        Assert.Equal(43 + 4 + 2 + 6, OspMessageRegistry.All.Count);
        Assert.Equal(8197UL, OspTypeKeys.LanSignalingIceRestart);
        Assert.Equal(8198UL, OspTypeKeys.LanSignalingIceRestartResponse);
        foreach (OspMessageDescriptor d in OspMessageRegistry.All.Where(d => d.Name.StartsWith("lan-signaling", StringComparison.Ordinal)))
        {
            Assert.InRange(d.TypeKey, 8193UL, 16383UL); // 2-byte extension range
        }
    }

    [Fact]
    public void Confirmation_value_size_is_enforced_both_ways()
    {
        var tooShort = new AuthSpake2Confirmation { ConfirmationValue = new byte[32] };
        Assert.Equal(CborError.SchemaViolation, Assert.Throws<CborException>(() => OspFraming.Frame(tooShort)).Error);
        // {0: h'00' * 32}
        byte[] frame = Convert.FromHexString("43eba1005820" + new string('0', 64));
        Assert.Equal(CborError.SchemaViolation, Assert.Throws<CborException>(() => OspFraming.Decode(frame)).Error);
    }

    [Fact]
    public void Decoders_skip_extension_keys_and_reject_duplicates_and_missing_fields()
    {
        // agent-info-request {0: 1, "ext": [1, 2], 9: {}} -> extension/unknown keys skipped.
        var decoded = AgentInfoRequest.Decode(Convert.FromHexString("a3000163657874820102" + "09a0"));
        Assert.Equal(1UL, decoded.RequestId);
        // Indefinite-length maps are fine too.
        Assert.Equal(5UL, AgentInfoRequest.Decode(Convert.FromHexString("bf0005ff")).RequestId);
        Assert.Equal(CborError.DuplicateMapKey, Assert.Throws<CborException>(() => AgentInfoRequest.Decode(Convert.FromHexString("a200010002"))).Error);
        Assert.Equal(CborError.SchemaViolation, Assert.Throws<CborException>(() => AgentInfoRequest.Decode(Convert.FromHexString("a0"))).Error);
        Assert.Equal(CborError.UnexpectedType, Assert.Throws<CborException>(() => AgentInfoRequest.Decode(Convert.FromHexString("a10061"+"61"))).Error);
        Assert.Equal(CborError.TrailingData, Assert.Throws<CborException>(() => AgentInfoRequest.Decode(Convert.FromHexString("a1000100"))).Error);
        // [1* text] urls must not be empty.
        Assert.Equal(CborError.SchemaViolation, Assert.Throws<CborException>(() => PresentationUrlAvailabilityRequest.Decode(Convert.FromHexString("a4000101800200" + "0300"))).Error);
        // Unknown enum values survive (open enumerations): capability 4242.
        var info = AgentInfo.Decode(Convert.FromHexString("a500616101616202811910920361630480"));
        Assert.Equal((AgentCapability)4242, Assert.Single(info.Capabilities));
    }

    [Fact]
    public void Generated_decode_from_a_reader_takes_whole_items_or_nothing()
    {
        // [{0: 1}, {0: "x"}, {0: <reserved 0x1c>}] read with System.Formats.Cbor's reader.
        // The library has no public checkpoint, so a decoder takes the next item whole (ReadEncodedValue, which
        // the library keeps transactional) and decodes that: a well-formed item that breaks the schema is consumed
        // and the reader stands on the next item; a malformed item leaves the reader where it was.
        var reader = new System.Formats.Cbor.CborReader(Convert.FromHexString("83a10001a1006178a1001c"), System.Formats.Cbor.CborConformanceMode.Lax);
        reader.ReadStartArray();
        Assert.Equal(1UL, AgentInfoRequest.Decode(reader).RequestId);
        int remaining = reader.BytesRemaining;
        Assert.Equal(CborError.UnexpectedType, Assert.Throws<CborException>(() => AgentInfoRequest.Decode(reader)).Error);
        Assert.Equal(remaining - 4, reader.BytesRemaining);
        Assert.Equal(System.Formats.Cbor.CborReaderState.StartMap, reader.PeekState());
        remaining = reader.BytesRemaining;
        Assert.Equal(CborError.Malformed, Assert.Throws<CborException>(() => AgentInfoRequest.Decode(reader)).Error);
        Assert.Equal(remaining, reader.BytesRemaining);
        Assert.Equal(System.Formats.Cbor.CborReaderState.StartMap, reader.PeekState());

        // Limits hold on this path too: they are checked on the item's bytes before it is decoded.
        var fresh = new System.Formats.Cbor.CborReader(Convert.FromHexString("a10001"), System.Formats.Cbor.CborConformanceMode.Lax);
        Assert.Equal(CborError.ItemCountLimitExceeded, Assert.Throws<CborException>(() => AgentInfoRequest.Decode(fresh, new CborLimits { MaxItemCount = 2 })).Error);
    }

    [Fact]
    public void Positional_arrays_and_indefinite_forms_decode()
    {
        // audio-frame [1, 2, h'00'] definite, then indefinite with the optional map {0: 20, 1: [1, 1000]}.
        var plain = AudioFrame.Decode(Convert.FromHexString("83010241" + "00"));
        Assert.Null(plain.Optional);
        var full = AudioFrame.Decode(Convert.FromHexString("9f010241" + "00" + "a20014" + "01820119" + "03e8ff"));
        Assert.Equal(20UL, full.Optional!.Duration);
        Assert.Equal(new MediaSyncTime { Value = 1, Scale = 1000 }, full.Optional.SyncTime);
        Assert.Equal("[1, 2, h'00', {0: 20, 1: [1, 1000]}]", full.ToString());

        // Wrong arity is a schema violation; a chunked payload is concatenated.
        Assert.Equal(CborError.SchemaViolation, Assert.Throws<CborException>(() => AudioFrame.Decode(Convert.FromHexString("820102"))).Error);
        Assert.Equal(CborError.SchemaViolation, Assert.Throws<CborException>(() => AudioFrame.Decode(Convert.FromHexString("8501024100a0" + "00"))).Error);
        var frame = DataFrame.Decode(Convert.FromHexString("a2000104" + "5f4168426921ff"));
        Assert.Equal("hi!"u8.ToArray(), frame.Payload.ToArray());

        // T / null keeps absent, null and a value apart.
        var state = RemotePlaybackState.Decode(Convert.FromHexString("a105f6"));
        Assert.True(state.Epoch!.Value.IsNull);
        Assert.Null(state.Duration);
        Assert.Equal(CborError.UnexpectedType, Assert.Throws<CborException>(() => RemotePlaybackState.Decode(Convert.FromHexString("a106" + "29"))).Error);
        Assert.Equal(-3.5, RemotePlaybackState.Decode(Convert.FromHexString("a106f9c300")).Duration!.Value.Value);
    }
}
