using OspBridge.Media.Formats;

namespace OspBridge.Media.Tests.Formats;

public class AnnexBTests
{
    [Theory]
    [InlineData(true, 1)]
    [InlineData(true, 7)]
    [InlineData(false, 3)]
    [InlineData(false, 4096)]
    public void Splits_a_stream_fed_in_pieces_into_its_access_units(bool withAud, int piece)
    {
        byte[] stream = H264TestStreams.Stream(23, withAud, out var units);
        var reader = new AnnexBAccessUnitReader();
        var got = new List<(byte[] Au, AnnexBAccessUnitInfo Info)>();
        for (int i = 0; i < stream.Length; i += piece)
        {
            reader.Write(stream.AsSpan(i, Math.Min(piece, stream.Length - i)));
            while (reader.TryRead(out var au, out var info))
                got.Add((au.ToArray(), info));
        }
        Assert.True(reader.TryReadFinal(out var last, out var lastInfo));
        got.Add((last.ToArray(), lastInfo));
        Assert.Equal(units.Count, got.Count);
        for (int i = 0; i < units.Count; i++)
        {
            Assert.Equal(units[i], got[i].Au);
            Assert.Equal(i % 5 == 0, got[i].Info.IsKeyframe);
            Assert.Equal(i % 5 == 0, got[i].Info.HasSps && got[i].Info.HasPps);
        }
    }

    [Fact]
    public void Garbage_before_the_first_start_code_is_skipped()
    {
        byte[] stream = [0x12, 0x34, 0x56, .. H264TestStreams.Stream(3, true, out var units)];
        var reader = new AnnexBAccessUnitReader();
        reader.Write(stream);
        Assert.True(reader.TryRead(out var au, out _));
        Assert.Equal(units[0], au.ToArray());
    }

    [Fact]
    public void An_oversized_access_unit_is_dropped_and_reading_resumes_at_the_next_boundary()
    {
        var reader = new AnnexBAccessUnitReader(maxAccessUnitSize: 1000);
        var ms = new MemoryStream();
        ms.Write(H264TestStreams.AccessUnit(0, true));
        ms.Write([0, 0, 0, 1, .. H264TestStreams.Slice(false, 5000, 3)]); // a 5 KB picture: over the limit
        var tail = new List<byte[]>();
        for (int i = 1; i < 4; i++)
        {
            var au = H264TestStreams.AccessUnit(i, true);
            tail.Add(au);
            ms.Write(au);
        }
        var got = new List<byte[]>();
        var bytes = ms.ToArray();
        for (int i = 0; i < bytes.Length; i += 512)
        {
            reader.Write(bytes.AsSpan(i, Math.Min(512, bytes.Length - i)));
            while (reader.TryRead(out var au, out _))
                got.Add(au.ToArray());
            Assert.True(reader.BufferedBytes <= 1000 + 8 + 512);
        }
        Assert.Equal(1, reader.DroppedAccessUnits);
        Assert.True(got.Count == 3, string.Join(" | ", got.Select(g => $"{g.Length}:{Convert.ToHexString(g.AsSpan(0, Math.Min(g.Length, 12)))}")));
        Assert.Equal(H264TestStreams.AccessUnit(0, true), got[0]);
        Assert.Equal(tail[0], got[1]);
        Assert.Equal(tail[1], got[2]);
    }

    [Fact]
    public void NalUnits_enumerates_three_and_four_byte_start_codes()
    {
        byte[] data = [9, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3];
        var list = new List<byte[]>();
        foreach (var nal in new AnnexBNalUnits(data))
            list.Add(nal.ToArray());
        Assert.Equal(3, list.Count);
        Assert.Equal(new byte[] { 0x09, 0xF0 }, list[0]);
        Assert.Equal(new byte[] { 0x67, 1, 2 }, list[1]);
        Assert.Equal(new byte[] { 0x68, 3 }, list[2]);
    }

    [Fact]
    public void Sps_gives_the_cropped_resolution_and_profile_level_id()
    {
        Assert.True(H264SpsInfo.TryParse(H264TestStreams.Sps640x360(), out var sps));
        Assert.Equal(640, sps.Width);
        Assert.Equal(360, sps.Height);
        Assert.Equal("42c01e", sps.ProfileLevelId);
    }

    [Fact]
    public void Sps_with_emulation_prevention_bytes_is_read_through_them()
    {
        // profile 66, constraint 0, level 0 would contain 00 00 → the encoder inserts 03: 67 42 00 00 03 ...
        var w = new BitWriter();
        w.Bits(0x67, 8); w.Bits(66, 8); w.Bits(0, 8); w.Bits(0, 8);
        w.Ue(0); w.Ue(0); w.Ue(2); w.Ue(1); w.Bits(0, 1); w.Ue(19); w.Ue(14); w.Bits(1, 1); w.Bits(1, 1); w.Bits(0, 1); w.Bits(0, 1); w.Bits(1, 1);
        byte[] raw = w.ToArray(); // 67 42 00 00 ...
        Assert.Equal(0, raw[2]);
        Assert.Equal(0, raw[3]);
        byte[] escaped = [.. raw[..4], 3, .. raw[4..]];
        Assert.True(H264SpsInfo.TryParse(escaped, out var sps));
        Assert.Equal(320, sps.Width);
        Assert.Equal(240, sps.Height);
    }
}
