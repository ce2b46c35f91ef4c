using System.Diagnostics;
using System.Formats.Cbor;
using OspBridge.Osp.Cbor;
using OspBridge.Osp.Messages;
using OspBridge.Testing;

namespace OspBridge.Osp.Tests.Cbor;

/// <summary>
/// Mutation fuzzer for the CBOR input seam (validation + System.Formats.Cbor reader), the resumable item scanner,
/// the generated message decoders and the demuxer. Valid encodings (RFC 8949 examples, random CBOR, framed OSP
/// messages) are mutated by bit flips, truncation, insertion, deletion, splicing and length-field inflation.
/// The only exception any target may raise is <see cref="CborException"/>; validating and walking an input must
/// not allocate more than <see cref="AllocationFactor"/> × input + <see cref="AllocationSlack"/> bytes; the
/// scanner fed in pieces must agree with validation of the whole; and differentially, whatever the seam accepts
/// the library's own lax reader must accept with the same item end, and whatever the library rejects the seam
/// must reject too.
/// Used by the CI test (200 000 inputs) and by <c>bench … fuzz-cbor N</c> (long runs).
/// </summary>
internal sealed class CborMutationFuzzer
{
    public const int AllocationFactor = 16;
    public const int AllocationSlack = 16 * 1024; // reader object, frame stack growth, one exception with its message

    private static readonly string[] RfcVectors =
    [
        "00", "1bffffffffffffffff", "c249010000000000000000", "3bffffffffffffffff", "f90001", "fb7e37e43c8800759c",
        "f8ff", "c074323031332d30332d32315432303a30343a30305a", "d82076687474703a2f2f7777772e6578616d706c652e636f6d",
        "64f0908591", "8301820203820405", "a26161016162820203", "5f42010243030405ff", "7f657374726561646d696e67ff",
        "9f018202039f0405ffff", "bf61610161629f0203ffff", "bf6346756ef563416d7421ff", "83019f0203ff820405",
    ];

    private static readonly byte[] Interesting = [0x00, 0x17, 0x18, 0x1b, 0x1f, 0x3f, 0x5f, 0x7f, 0x9f, 0xbf, 0xdf, 0xf8, 0xf9, 0xfb, 0xff, 0x1c, 0xc0, 0x80, 0xa0, 0x60, 0x40];

    private readonly Random _random;
    private readonly List<byte[]> _seeds = [];
    private readonly MessageDemuxer _demuxer = new();
    private readonly OspMessageDescriptor[] _descriptors = [.. OspMessageRegistry.All];

    public CborMutationFuzzer(int seed)
    {
        _random = new Random(seed);
        foreach (string hex in RfcVectors)
        {
            _seeds.Add(Convert.FromHexString(hex));
        }

        var random = new RandomCbor(seed, maxDepth: 5);
        for (int i = 0; i < 400; i++)
        {
            _seeds.Add(random.Next().Encoded);
        }

        // Random instances of every message type of the schema, so every generated decoder sees near-valid input.
        var messages = new Messages.RandomMessages(seed);
        var samples = SampleMessages().ToList();
        foreach (OspMessageDescriptor descriptor in OspMessageRegistry.All)
        {
            for (int i = 0; i < 4; i++)
            {
                samples.Add((IOspMessage)messages.Create(descriptor.MessageType));
            }
        }

        foreach (IOspMessage message in samples)
        {
            byte[] frame = OspFraming.Frame(message);
            _seeds.Add(frame);
            _seeds.Add(frame[Net.Wire.QuicVarint.GetEncodedLength(message.TypeKey)..]);
        }

        _demuxer.RegisterAll(static _ => { });
    }

    public long Inputs { get; private set; }

    public long ReaderAccepted { get; private set; }

    public long MessagesDecoded { get; private set; }

    /// <summary>Inputs the library's lax reader accepts and the seam rejects (bad UTF-8, simple values below 32, limits, …).</summary>
    public long LibraryOnlyAccepted { get; private set; }

    public TimeSpan MaxInputTime { get; private set; }

    public long MaxAllocationOverBudget { get; private set; } = long.MinValue;

    /// <summary>Runs <paramref name="count"/> mutated inputs; throws <see cref="FuzzFailureException"/> on the first violation.</summary>
    public void Run(long count)
    {
        var stopwatch = new Stopwatch();
        for (long i = 0; i < count; i++)
        {
            byte[] input = Mutate(_seeds[_random.Next(_seeds.Count)]);
            stopwatch.Restart();
            RunOne(input);
            stopwatch.Stop();
            if (stopwatch.Elapsed > MaxInputTime)
            {
                MaxInputTime = stopwatch.Elapsed;
            }

            Inputs++;
        }
    }

    private void RunOne(byte[] input)
    {
        // 1. Reader walk, with an allocation budget (the walk is a pure function of the input: a window over budget
        // is walked again, up to three times, so a one-off runtime allocation on this thread does not count).
        long budget = (long)AllocationFactor * input.Length + AllocationSlack;
        int readerEnd = -1;
        CborError? readerError = null;
        long allocated = Allocations.LeastOf(3, () =>
        {
            readerEnd = -1;
            readerError = null;
            try
            {
                readerEnd = Walk(input);
            }
            catch (CborException e)
            {
                readerError = e.Error;
            }
            catch (Exception e)
            {
                throw Failure("reader", input, e);
            }
        }, enough: budget);
        if (readerError is null)
        {
            ReaderAccepted++;
        }

        long overBudget = allocated - budget;
        MaxAllocationOverBudget = Math.Max(MaxAllocationOverBudget, overBudget);
        if (overBudget > 0)
        {
            throw Failure($"reader allocated {allocated} bytes", input, null);
        }

        // 1b. Differential: the library's lax reader, on its own, never accepts less than we do, nor more.
        int libraryEnd;
        try
        {
            var library = new CborReader(input, CborConformanceMode.Lax, allowMultipleRootLevelValues: true);
            library.SkipValue();
            libraryEnd = input.Length - library.BytesRemaining;
        }
        catch (CborContentException)
        {
            libraryEnd = -1;
        }
        catch (InvalidOperationException)
        {
            // The library also reports some bad input this way: an empty buffer ("Finished"), or a two-byte
            // simple value below 24 ("does not encode a simple value"). The seam maps it to UnexpectedType.
            libraryEnd = -1;
        }
        catch (Exception e)
        {
            throw Failure("library reader (unexpected exception type)", input, e);
        }

        if (readerEnd >= 0 && libraryEnd != readerEnd)
        {
            throw Failure($"library end {libraryEnd} != seam end {readerEnd}", input, null);
        }

        if (libraryEnd < 0 && readerEnd >= 0)
        {
            throw Failure("library rejected what the seam accepted", input, null);
        }

        if (readerEnd < 0 && libraryEnd >= 0)
        {
            LibraryOnlyAccepted++;
        }

        // 2. Scanner must agree with the reader wherever the reader accepts.
        try
        {
            var scanner = new CborItemScanner();
            int split = input.Length == 0 ? 0 : _random.Next(input.Length);
            int end = scanner.Advance(input.AsSpan(0, split));
            if (end < 0)
            {
                end = scanner.Advance(input);
            }

            if (readerEnd >= 0 && end != readerEnd)
            {
                throw Failure($"scanner end {end} != reader end {readerEnd}", input, null);
            }
        }
        catch (CborException e)
        {
            if (readerEnd >= 0)
            {
                throw Failure($"scanner rejected ({e.Error}) what the reader accepted", input, e);
            }
        }
        catch (Exception e) when (e is not FuzzFailureException)
        {
            throw Failure("scanner", input, e);
        }

        // 3. Framed message decode and a generated decoder chosen at random.
        try
        {
            OspFraming.Decode(input);
            MessagesDecoded++;
        }
        catch (CborException)
        {
        }
        catch (Exception e)
        {
            throw Failure("OspFraming.Decode", input, e);
        }

        try
        {
            var reader = new CborReader(input, CborConformanceMode.Lax);
            _descriptors[_random.Next(_descriptors.Length)].Decode(reader);
            MessagesDecoded++;
        }
        catch (CborException)
        {
        }
        catch (Exception e)
        {
            throw Failure("generated decoder", input, e);
        }

        // 4. Demuxer, fed in random chunks.
        try
        {
            using MessageStream stream = _demuxer.CreateStream();
            int pos = 0;
            while (pos < input.Length)
            {
                int take = _random.Next(1, input.Length - pos + 1);
                if (!stream.Push(input.AsMemory(pos, take)).IsOk)
                {
                    break;
                }

                pos += take;
            }

            stream.Complete();
        }
        catch (Exception e)
        {
            throw Failure("demuxer", input, e);
        }
    }

    /// <summary>Validates one item and reads it completely with the library reader, without building a tree; returns its length.</summary>
    private static int Walk(byte[] input)
    {
        int length = CborInput.Validate(input, allowTrailingData: true);
        var reader = new CborReader(input.AsMemory(0, length), CborConformanceMode.Lax);
        try
        {
            do
            {
                switch (reader.PeekState())
                {
                    case CborReaderState.UnsignedInteger: reader.ReadUInt64(); break;
                    case CborReaderState.NegativeInteger: reader.ReadCborNegativeIntegerRepresentation(); break;
                    case CborReaderState.ByteString: reader.ReadDefiniteLengthByteString(); break;
                    case CborReaderState.StartIndefiniteLengthByteString: reader.ReadByteString(); break;
                    case CborReaderState.TextString:
                    case CborReaderState.StartIndefiniteLengthTextString: reader.ReadTextString(); break;
                    case CborReaderState.StartArray: reader.ReadStartArray(); break;
                    case CborReaderState.EndArray: reader.ReadEndArray(); break;
                    case CborReaderState.StartMap: reader.ReadStartMap(); break;
                    case CborReaderState.EndMap: reader.ReadEndMap(); break;
                    case CborReaderState.Tag: reader.ReadTag(); break;
                    case CborReaderState.Boolean: reader.ReadBoolean(); break;
                    case CborReaderState.Null: reader.ReadNull(); break;
                    case CborReaderState.SimpleValue: reader.ReadSimpleValue(); break;
                    default: reader.ReadDouble(); break;
                }
            }
            while (reader.PeekState() != CborReaderState.Finished);
        }
        catch (Exception e) when (e is not CborException)
        {
            // Validated input must read without surprises: this is a seam bug, not a CborException.
            throw new FuzzFailureException($"library reader failed on validated input: {e.GetType().Name} {e.Message}", e);
        }

        return length;
    }

    private byte[] Mutate(byte[] seed)
    {
        var data = new List<byte>(seed);
        int mutations = _random.Next(1, 4);
        for (int m = 0; m < mutations; m++)
        {
            int p = data.Count == 0 ? 0 : _random.Next(data.Count);
            switch (_random.Next(8))
            {
                case 0 when data.Count > 0: // bit flip
                    data[p] ^= (byte)(1 << _random.Next(8));
                    break;
                case 1: // truncation
                    data.RemoveRange(p, data.Count - p);
                    break;
                case 2: // insertion
                    for (int k = _random.Next(1, 4); k > 0; k--)
                    {
                        data.Insert(p, _random.Next(2) == 0 ? Interesting[_random.Next(Interesting.Length)] : (byte)_random.Next(256));
                    }

                    break;
                case 3 when data.Count > 0: // deletion
                    data.RemoveRange(p, Math.Min(data.Count - p, _random.Next(1, 4)));
                    break;
                case 4 when data.Count > 0: // interesting byte
                    data[p] = Interesting[_random.Next(Interesting.Length)];
                    break;
                case 5 when data.Count > 0: // length-field inflation: turn a head into a 4/8-byte length of a string/array/map
                {
                    int major = _random.Next(2, 6);
                    bool eight = _random.Next(2) == 0;
                    data[p] = (byte)((major << 5) | (eight ? 27 : 26));
                    byte[] length = new byte[eight ? 8 : 4];
                    _random.NextBytes(length);
                    length[0] |= (byte)(_random.Next(2) == 0 ? 0x80 : 0x00);
                    data.InsertRange(p + 1, length);
                    break;
                }

                case 6 when data.Count > 0: // splice a slice of another seed in
                {
                    byte[] other = _seeds[_random.Next(_seeds.Count)];
                    int start = _random.Next(other.Length);
                    data.InsertRange(p, other.AsSpan(start, _random.Next(0, other.Length - start + 1)).ToArray());
                    break;
                }

                default: // duplicate a slice
                    if (data.Count > 0)
                    {
                        int len = _random.Next(1, Math.Min(16, data.Count - p) + 1);
                        data.InsertRange(p, data.GetRange(p, len));
                    }

                    break;
            }
        }

        return [.. data];
    }

    private static FuzzFailureException Failure(string what, byte[] input, Exception? inner) =>
        new($"{what} failed on input {Convert.ToHexStringLower(input)}: {inner?.GetType().Name} {inner?.Message}", inner);

    private static IEnumerable<IOspMessage> SampleMessages()
    {
        yield return new AgentInfoResponse
        {
            RequestId = 7,
            AgentInfo = new AgentInfo
            {
                DisplayName = "Living room",
                ModelName = "OspBridge",
                Capabilities = [AgentCapability.ReceiveData, AgentCapability.DataChannels, AgentCapability.LanSignaling],
                StateToken = "a1B2c3D4",
                Locales = ["en", "de-CH"],
            },
        };
        yield return new AuthSpake2Handshake
        {
            InitiationToken = new AuthInitiationToken { Token = "abc" },
            PskStatus = AuthSpake2PskStatus.PskShown,
            PublicValue = new byte[32],
        };
        yield return new AuthSpake2Confirmation { ConfirmationValue = new byte[64] };
        yield return new DataChannelOpenRequest { RequestId = 1, ChannelId = 0, Label = "chat", Protocol = "" };
        yield return new DataFrame { EncodingId = (ulong)DataChannelEncodingId.String, Payload = "hi"u8.ToArray() };
        yield return new LanSignalingOffer { RequestId = 3, SessionId = 1, Sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n", Label = "peerfetch", TrickleIce = true };
        yield return new LanSignalingCandidate { SessionId = 1, Candidate = "candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host", SdpMid = "0", SdpMLineIndex = 0 };
        yield return new AudioFrame { EncodingId = 1, StartTime = 90000, Payload = new byte[20], Optional = new AudioFrameOptional { Duration = 20, SyncTime = new MediaSyncTime { Value = 1, Scale = 1000 } } };
        yield return new RemotePlaybackStateEvent
        {
            RemotePlaybackId = 9,
            State = new RemotePlaybackState
            {
                Supports = new RemotePlaybackStateSupports { Rate = true, Preload = false, Poster = true, AddedTextTrack = false, AddedCues = true },
                Epoch = new NullOr<long>(-5),
                Duration = default(NullOr<double>),
                BufferedTimeRanges = [new MediaTimelineRange { Start = 0.5, End = 10.25 }],
                Error = new MediaError { Code = MediaErrorCode.NetworkError, Message = "net" },
                Resolution = new NullOr<VideoResolution>(new VideoResolution { Height = 720, Width = 1280 }),
                AudioTracks = [new AudioTrackState { Id = "a", Label = "main", Language = "en", Enabled = true }],
            },
        };
        yield return new PresentationConnectionMessage { ConnectionId = 4, Message = BytesOrText.FromText("hello") };
    }
}

/// <summary>A fuzz target violated its contract.</summary>
internal sealed class FuzzFailureException(string message, Exception? inner) : Exception(message, inner);
